"""Thin entry points that adapt cloud events and container contracts to ``sdk.serving``."""
