"""Module 4: the hidden request cases and the model's parameters for expected predictions."""
