"""blynklite: a small, single-threaded reimplementation of the Blynk 0.41 server."""
__version__ = "0.1.0"
