"""Keras twin of models/digits_transformer."""
