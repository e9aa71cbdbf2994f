"""Keras twin of models/digits_cnn."""
