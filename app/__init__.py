"""The application factory."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.routing import IntegerConverter

from app.json_provider import OrjsonProvider
from config import BASE_DIR, INSTANCE_DIR, config_for


class RowIdConverter(IntegerConverter):
    """`<int:...>` in every route: ids fit the database's 32-bit integer, so a larger number
    in a path is a plain 404 (and the API documents the maximum) instead of an overflow."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(config_name: str | None = None, **overrides) -> Flask:
    config = config_for(config_name)
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder=str(BASE_DIR / "templates"),
        static_folder="static",
    )
    app.json = OrjsonProvider(app)
    app.config.from_object(config)
    app.config.update(overrides)
    app.url_map.converters["int"] = RowIdConverter
    _trust_proxies(app)
    _tune_engine(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)

    from app import cli, errors, i18n, models, outbox, security  # noqa: F401 (models: whole metadata)
    from app.extensions import db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True,
                     compare_type=True)
    _configure_services(app)
    outbox.init_app(app)
    i18n.init_app(app)
    security.init_app(app)

    from app import api, web

    api.init_app(app)
    web.init_app(app)
    errors.init_app(app)
    cli.init_app(app)

    return app


def _trust_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES reverse proxies, take the client's address, scheme, host and
    path prefix from their X-Forwarded-* headers (the last N hops only, so a client cannot
    forge them by sending its own)."""
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,
                                x_port=hops, x_prefix=hops)


def _tune_engine(app: Flask) -> None:
    """psycopg prepares a statement server-side after five runs, and PostgreSQL may then plan
    it generically: for the pool search (LIKE, optional filters) that plan was twice as slow
    as a plan made for the actual values. Plan each statement for its values instead."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["connect_args"] = {"prepare_threshold": None, **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _configure_services(app: Flask) -> None:
    from services import accounts, data_versions, passwords  # noqa: F401 (data_versions: session events)

    accounts.PASSWORD_MIN_LENGTH = app.config["PASSWORD_MIN_LENGTH"]
    if app.config.get("TESTING"):
        # Argon2 at its cheapest: tests hash hundreds of passwords.
        passwords.configure(time_cost=1, memory_cost=1024)
