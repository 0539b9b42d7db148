"""The Jupyter Server extension behind the sidebar: authenticated REST over the runs.

It reads the same registry and run folders as the notebook (``MODELFORGE_HOME``) and
never starts torch at import. Every handler inherits Jupyter Server's authentication,
XSRF and origin policy; nothing here adds CORS of its own.
"""

from __future__ import annotations

from typing import Any


def load(serverapp: Any) -> None:
    """Register the handlers under ``/modelforge/api/``."""
    from jupyter_server.utils import url_path_join

    from modelforge_nb.server.handlers import routes

    base = url_path_join(serverapp.web_app.settings["base_url"], "modelforge", "api")
    serverapp.web_app.add_handlers(
        ".*$", [(url_path_join(base, path), handler) for path, handler in routes()]
    )
    serverapp.log.info("modelforge-nb: REST handlers at %s", base)
