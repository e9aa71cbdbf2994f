"""A small CNN that classifies 8x8 handwritten digits (scikit-learn's ``load_digits``): the embedded default model."""
