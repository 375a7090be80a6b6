"""pipeline-kit: promote versions through the stages of every service stack, under constraints."""

__version__ = "0.1.0"
