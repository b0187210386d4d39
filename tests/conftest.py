"""Shared test set-up. Unit tests need none of it; integration tests get an app and a database.

The integration database is SQLite in a temporary file by default. With TEST_DATABASE_URL
set (PostgreSQL), a uniquely named database is created from it for the run and dropped after.
"""

from __future__ import annotations

import os
import re
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

os.environ.setdefault("OUTLETPOOL_ENV", "testing")


def postgres_database(base_url: str, prefix: str = "outletpool_test"):
    """Create a fresh database beside `base_url`'s; return its URL and a drop function."""
    import psycopg

    parts = urlsplit(base_url.replace("postgresql+psycopg://", "postgresql://", 1)
                     .replace("postgres://", "postgresql://", 1))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(parts._replace(path=f"/{name}")), drop


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    base = os.environ.get("TEST_DATABASE_URL")
    if base and base.startswith(("postgres://", "postgresql")):
        url, drop = postgres_database(base)
        yield url
        drop()
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from services import divisions, reference_data

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url,
                     UPLOAD_ROOT=str(tmp_path_factory.mktemp("uploads")))
    with app.app_context():
        upgrade()
        reference_data.load_all()
        db.session.commit()
        divisions.reset_cache()
    yield app
    with app.app_context():
        db.engine.dispose()


# data_versions stays: truncate_all changes its tokens instead, so no process keeps answers
# computed from the rows it removes.
REFERENCE_TABLES = {"divisions", "regions", "rule_sets", "checklist_items",
                    "checklist_categories", "alembic_version", "data_versions"}


def truncate_all(app) -> None:
    """Every table but the reference data emptied, as if the database had just been set up."""
    import secrets

    from app.extensions import db, limiter

    with app.app_context():
        db.session.remove()
        tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in REFERENCE_TABLES]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in tables)
                conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            else:
                for table in tables:
                    conn.execute(table.delete())
            conn.execute(db.text("UPDATE data_versions SET token = :token"),
                         {"token": secrets.randbits(62)})
        app.extensions["outbox"] = []
        limiter.reset()


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Each integration test starts with reference data only."""
    yield
    if "app" in request.fixturenames:
        truncate_all(request.getfixturevalue("app"))


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                     r'name="csrf_token" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)
