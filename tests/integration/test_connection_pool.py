"""Pooled connections whose server side went away (a PostgreSQL restart, a killed backend).

A connection idle for over IDLE_BEFORE_PING_S is pinged and silently replaced; one used a
moment ago is not pinged, so its first statement fails: that request answers 503 and the
pool is invalidated, so the next request is served on a fresh connection.
"""

from __future__ import annotations

import psycopg
import pytest

from app import extensions
from app.extensions import db


@pytest.fixture
def postgres_only(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("server-side disconnects are a PostgreSQL matter")


def kill_pooled_connections(app) -> int:
    """Terminate the server side of every connection to the test database (only the app's
    pool holds any), so whichever the pool hands out next is dead; how many."""
    with app.app_context():
        engine = db.engine
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        database = engine.url.database
    with psycopg.connect(url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchone()
    return killed[0]


def test_an_idle_dead_connection_is_replaced_before_use(app, client, postgres_only, monkeypatch):
    assert client.get("/healthz").status_code == 200
    assert kill_pooled_connections(app) >= 1
    monkeypatch.setattr(extensions, "IDLE_BEFORE_PING_S", 0.0)  # every checkout counts as idle
    assert client.get("/healthz").status_code == 200


def test_a_busy_dead_connection_fails_one_request_then_the_pool_recovers(
        app, client, postgres_only, monkeypatch):
    assert client.get("/healthz").status_code == 200
    assert kill_pooled_connections(app) >= 1
    monkeypatch.setattr(extensions, "IDLE_BEFORE_PING_S", 3600.0)  # never pinged
    failed = client.get("/api/v1/outlets?city=440300")
    assert failed.status_code == 503 and failed.headers.get("Retry-After")
    assert client.get("/api/v1/outlets?city=440300").status_code == 200
