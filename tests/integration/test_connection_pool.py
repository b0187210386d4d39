"""Pooled connections whose server side went away (a PostgreSQL restart, a killed backend).

A connection idle for over IDLE_BEFORE_PING_S is pinged and silently replaced; one used a
moment ago is not pinged, so its first statement fails: that request answers 503 and the
pool is invalidated, so the next request is served on a fresh connection.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from app import extensions
from app.extensions import db


@pytest.fixture
def one_connection(app):
    """An empty pool before (so the test's first request leaves exactly one connection in it)
    and after (so no dead connection outlives the test)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("server-side disconnects are a PostgreSQL matter")

    def empty_pool():
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

    empty_pool()
    yield
    empty_pool()


def kill_pooled_connection(app) -> int:
    """Terminate the server side of the one connection in the app's pool; how many died."""
    with app.app_context():
        engine = db.engine
        assert engine.pool.checkedin() == 1
        with engine.connect() as conn:  # the pooled connection itself, handed back after
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        killed = admin.execute("SELECT count(pg_terminate_backend(%s))", (pid,)).fetchone()[0]
        for _ in range(100):  # the backend exits asynchronously
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                break
            time.sleep(0.02)
    return killed


def test_an_idle_dead_connection_is_replaced_before_use(app, client, one_connection, monkeypatch):
    assert client.get("/healthz").status_code == 200
    assert kill_pooled_connection(app) == 1
    monkeypatch.setattr(extensions, "IDLE_BEFORE_PING_S", 0.0)  # every checkout counts as idle
    assert client.get("/healthz").status_code == 200


def test_a_busy_dead_connection_fails_one_request_then_the_pool_recovers(
        app, client, one_connection, monkeypatch):
    assert client.get("/healthz").status_code == 200
    assert kill_pooled_connection(app) == 1
    monkeypatch.setattr(extensions, "IDLE_BEFORE_PING_S", 3600.0)  # never pinged
    failed = client.get("/api/v1/outlets?city=440300")
    assert failed.status_code == 503 and failed.headers.get("Retry-After")
    assert client.get("/api/v1/outlets?city=440300").status_code == 200
