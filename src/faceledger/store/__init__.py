"""The embedded store: SQLite catalog + vector index + audit log under one data dir."""
