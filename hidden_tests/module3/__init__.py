"""Module 3: hidden-data generators, the oracle written from the rules, and comparisons."""
