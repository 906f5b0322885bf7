"""Per-connection protocol objects (DESIGN.md): one class per kind of connection, each with its table."""
