"""The hub: a Flask app that takes rows from sheets, shops and hosts, and keeps them in one clean store."""
from __future__ import annotations

import threading
from typing import Mapping

from flask import Flask
from sqlalchemy.orm import configure_mappers

from .config import INSTANCE_DIR, load_settings
from .db import make_session_factory


def create_app(test_config: Mapping[str, object] | None = None) -> Flask:
    """Build the app. `test_config` overrides settings by name (e.g. {"database_url": ...})."""
    from .logging_setup import configure_logging

    configure_logging()
    settings = load_settings()
    if test_config:
        settings = settings.with_overrides(test_config)

    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config["HUB_SETTINGS"] = settings
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_upload_bytes, settings.max_webhook_bytes)
    app.extensions["hub.sessions"] = make_session_factory(settings.database_url)

    from . import request_limits, web
    from .api import connectors, dashboards, deals, etl, hooks, io, match
    from .api import metrics as metrics_api
    from .api import openapi
    from .status import admin_guard
    from .status import tenant_page
    from .status import views as status
    from webhooks import commerce, sheets, zapier

    web.init_app(app)
    request_limits.init_app(app)
    app.register_blueprint(etl.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(io.bp)
    app.register_blueprint(connectors.bp)
    app.register_blueprint(deals.bp)
    app.register_blueprint(match.bp)
    app.register_blueprint(dashboards.bp)
    app.register_blueprint(metrics_api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(tenant_page.bp)
    admin_guard.init_app(app)
    app.register_blueprint(sheets.bp)
    app.register_blueprint(zapier.bp)
    app.register_blueprint(commerce.bp)
    # The mappers are configured on their first use otherwise: about 17 ms of a worker's first request.
    # Built here, in gunicorn's master (preload_app), every worker starts with them done.
    configure_mappers()
    return app


def warm_up(app: Flask) -> None:
    """Connect this process to the database and to Redis, and run the webhook signer once (about 7 ms
    of a worker's first push, on a connection already open), in a thread of its own: gunicorn calls it
    in each worker it starts (deploy/gunicorn.conf.py), so the connections are usually open before the
    first request, and a database that does not answer (a host gone, its connection attempts hanging
    for minutes) never holds up the worker's start. What fails is logged and left to the requests,
    which say so."""
    if app.config.get("HUB_SETTINGS") is None:  # not the hub's app (a benchmark's do-nothing baseline)
        return
    threading.Thread(target=_connect, args=(app,), name="hub-warm-up", daemon=True).start()


def _connect(app: Flask) -> None:
    import logging

    from .jobs.queue import redis_connection
    from .quotas import storage_for, storage_uri
    from .tenants import webhook_signer

    settings = app.config["HUB_SETTINGS"]
    log = logging.getLogger("hub")
    try:
        with app.extensions["hub.sessions"]() as session:
            webhook_signer(session, "", "sheets", settings.secret_key)  # no tenant is named ""
    except Exception:  # noqa: BLE001 - the first request will meet the same fault and answer for it
        log.warning("warm-up: the database could not be reached", exc_info=True)
    if settings.redis_url:
        try:
            redis_connection(settings.redis_url).ping()
            storage_for(storage_uri(settings)).check()  # the quota counters' own connection
        except Exception:  # noqa: BLE001
            log.warning("warm-up: Redis could not be reached", exc_info=True)
