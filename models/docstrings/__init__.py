"""Real human-written text in a domain MiniLM was not trained for: scipy docstring summaries labelled by submodule."""
