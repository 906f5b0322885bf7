"""Command handlers: one function per command, found through a table keyed by command code."""
