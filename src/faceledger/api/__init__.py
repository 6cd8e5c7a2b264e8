"""The HTTP API and web UI: a thin layer over the library.

    from faceledger.api import create_app
    app = create_app(Settings.from_env(data_dir="data"))
"""

from .app import create_app

__all__ = ["create_app"]
