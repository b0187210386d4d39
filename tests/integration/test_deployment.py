"""Running behind nginx and on several hosts: forwarded headers, one tick at a time."""

from datetime import UTC, datetime

import pytest
from flask import jsonify, request

from app.extensions import db
from services import tick


def _echo_app(database_url: str, **settings):
    from app import create_app

    other = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, **settings)

    @other.route("/_whoami")
    def whoami():
        return jsonify(ip=request.remote_addr, scheme=request.scheme, host=request.host)

    return other


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "outletpool.example.cn"}


def test_behind_one_trusted_proxy_the_client_address_and_scheme_come_from_its_headers(
        database_url):
    client = _echo_app(database_url, TRUSTED_PROXIES=1).test_client()
    seen = client.get("/_whoami", headers=FORWARDED,
                      environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_json()
    assert seen == {"ip": "203.0.113.7", "scheme": "https", "host": "outletpool.example.cn"}
    # A client prepending its own X-Forwarded-For gets only the address the proxy appended.
    forged = client.get("/_whoami", headers={**FORWARDED, "X-Forwarded-For": "10.0.0.1, 203.0.113.7"},
                        environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_json()
    assert forged["ip"] == "203.0.113.7"


def test_without_trusted_proxies_forwarded_headers_are_ignored(database_url):
    client = _echo_app(database_url).test_client()
    seen = client.get("/_whoami", headers=FORWARDED,
                      environ_base={"REMOTE_ADDR": "198.51.100.2"}).get_json()
    assert seen == {"ip": "198.51.100.2", "scheme": "http", "host": "localhost"}


def test_a_second_tick_while_one_runs_skips_without_changing_anything(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the tick lock is a PostgreSQL advisory lock; SQLite serializes writers")
    now = datetime(2026, 7, 1, tzinfo=UTC)
    with app.app_context():
        tick.run(now)  # the first tick holds the lock until its transaction ends
        with app.app_context():  # another session, as another host's cron would have
            second = app.test_cli_runner().invoke(args=["tick", "--now", now.isoformat()])
        assert second.exit_code == 0, second.output
        assert "skipped, another tick is running" in second.output
        db.session.commit()
    again = app.test_cli_runner().invoke(args=["tick", "--now", now.isoformat()])
    assert again.exit_code == 0 and "skipped" not in again.output


def test_ticks_called_side_by_side_in_process_queue_behind_each_other(app):
    """tick.run (not the CLI) waits for the lock: each run sees what the previous committed."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the tick lock is a PostgreSQL advisory lock")
    import threading

    now = datetime(2026, 7, 1, tzinfo=UTC)
    finished = []
    with app.app_context():
        tick.run(now)

        def second():
            with app.app_context():
                tick.run(now)
                db.session.commit()
                finished.append(True)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive() and not finished  # waiting for the first tick's commit
        db.session.commit()
    thread.join(timeout=30)
    assert finished == [True]


def test_while_the_database_is_unreachable_pages_and_api_answer_503_with_retry_after():
    """Nothing listens on port 1: every query fails to connect, as during an outage."""
    from app import create_app

    down = create_app("testing", SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1:1/none",
                      PROPAGATE_EXCEPTIONS=False)
    client = down.test_client()
    api = client.get("/api/v1/outlets?city=440300", headers={"Accept-Language": "en"})
    assert api.status_code == 503 and api.headers["Retry-After"] == "30"
    assert api.get_json()["error"]["code"] == "unavailable"
    page = client.get("/pool", headers={"Accept-Language": "en"})
    assert page.status_code == 503 and "briefly unavailable" in page.get_data(as_text=True)
    assert client.get("/healthz").status_code == 503
