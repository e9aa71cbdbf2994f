"""A small Transformer encoder trained from scratch on the digits, each image read as a sequence of 8 rows."""
