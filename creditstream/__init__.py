"""creditstream: streaming platform for SME credit-information sharing."""

__version__ = "0.1.0"
