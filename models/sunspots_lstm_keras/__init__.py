"""Keras twin of models/sunspots_lstm."""
