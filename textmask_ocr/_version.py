"""The package version, on the ground floor of the layering: every module may import it."""

__version__ = "0.1.0"
