"""The dashboard: ``create_app(settings)`` builds it; ``umm dash`` serves it with waitress.

A Dash multi-page app (``use_pages``) over the materialized warehouse, through the serving reader the
REST API uses (:mod:`umm_assets.lib.serving`): it reads what was materialized and never fits. Pages
are the modules in ``umm_dash/pages`` (each registers itself); Dash keeps pages and their callbacks in
process-wide registries, so there is one dashboard app per process.
"""

from __future__ import annotations

import importlib
import pkgutil
import signal

import dash

from umm_assets.lib.serving.audit import AuditLog
from umm_assets.lib.serving.keys import KeyStore
from umm_assets.lib.serving.progress import Lookup, dagster_lookup
from umm_assets.lib.serving.reader import open_reader
from umm_dash import access, pages
from umm_dash.data import EXTENSION, Data
from umm_dash.settings import DashSettings, get_settings

TITLE = "Unified-M"


def create_app(settings: DashSettings | None = None, progress: Lookup | None = None) -> dash.Dash:
    """The dashboard over ``settings.data_dir`` (default: the process's settings, read once and validated at start);
    ``progress`` says what is being materialized (default: ask the Dagster instance of ``DAGSTER_HOME``)."""
    settings = settings or get_settings()
    app = dash.Dash(__name__, use_pages=True, pages_folder="", title=TITLE, update_title=None,
                    suppress_callback_exceptions=True,  # page callbacks refer to components of pages not shown
                    meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}])
    _import_pages()  # after the app exists: register_page needs it
    from umm_dash.components import shell  # its callbacks refer to the pages' registry

    app.layout = shell.layout
    reader = open_reader(settings.data_dir, cache_entries=0, table_cache_entries=settings.table_cache_entries,
                         remote_ttl_seconds=settings.remote_ttl_seconds)
    app.server.extensions[EXTENSION] = Data(reader, progress or dagster_lookup(), settings.dagster_url)
    access.install(app.server, KeyStore(settings.state_file("keys.json")),
                   AuditLog(settings.state_file("audit.jsonl"), max_bytes=settings.audit_max_bytes,
                            keep=settings.audit_keep),
                   secret=settings.session_secret(), session_hours=settings.session_hours,
                   secure=settings.secure_cookies)
    return app


def _import_pages() -> None:
    """Import every page module (Dash's own folder scan would import them a second time, under other names)."""
    for info in pkgutil.iter_modules(pages.__path__):
        module = importlib.import_module(f"{pages.__name__}.{info.name}")
        dash.page_registry[module.__name__]["layout"] = module.layout


def serve(settings: DashSettings, host: str, port: int) -> None:
    """Serve the dashboard with waitress (a production WSGI server: threads, no debugger, no reloader)."""
    import waitress

    app = create_app(settings)
    # stop when asked, even when started from a shell that ignores these signals for its background jobs
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    waitress.serve(app.server, host=host, port=port, threads=settings.threads, ident="unified-m",
                   clear_untrusted_proxy_headers=True)
