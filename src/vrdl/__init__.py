"""Variance-reduced optimizers on deep networks."""

__version__ = "0.1.0"
