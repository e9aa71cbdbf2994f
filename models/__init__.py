"""Reference models and their training recipes. ``sdk`` never imports this package; recipes import ``sdk``."""
