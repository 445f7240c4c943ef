"""bnnas: find, train, measure and deploy binary neural networks by architecture search."""

__version__ = "0.1.0"
