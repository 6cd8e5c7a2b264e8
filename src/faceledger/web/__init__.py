"""Package data for the web UI: Jinja2 templates and static files (no Python here)."""
