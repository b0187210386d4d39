"""Running behind nginx and on several hosts: forwarded headers, the two pools, one tick at a
time."""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from string import Template

import pytest
from flask import current_app, jsonify, request
from werkzeug.serving import make_server

from app.extensions import db
from services import tick


def _echo_app(database_url: str, **settings):
    from app import create_app

    other = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, **settings)

    @other.route("/_whoami")
    @other.route("/api/v1/_whoami")
    def whoami():
        return jsonify(ip=request.remote_addr, scheme=request.scheme, host=request.host,
                       pool=current_app.config.get("POOL_NAME"))

    return other


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "outletpool.example.cn"}


def test_behind_one_trusted_proxy_the_client_address_and_scheme_come_from_its_headers(
        database_url):
    client = _echo_app(database_url, TRUSTED_PROXIES=1).test_client()
    seen = client.get("/_whoami", headers=FORWARDED,
                      environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_json()
    assert seen == {"ip": "203.0.113.7", "scheme": "https", "host": "outletpool.example.cn",
                    "pool": None}
    # A client prepending its own X-Forwarded-For gets only the address the proxy appended.
    forged = client.get("/_whoami", headers={**FORWARDED, "X-Forwarded-For": "10.0.0.1, 203.0.113.7"},
                        environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_json()
    assert forged["ip"] == "203.0.113.7"


def test_without_trusted_proxies_forwarded_headers_are_ignored(database_url):
    client = _echo_app(database_url).test_client()
    seen = client.get("/_whoami", headers=FORWARDED,
                      environ_base={"REMOTE_ADDR": "198.51.100.2"}).get_json()
    assert seen == {"ip": "198.51.100.2", "scheme": "http", "host": "localhost", "pool": None}


ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def nginx_front(database_url, tmp_path):
    """config/nginx/local-front.conf (and so outletpool-routes.conf) in front of two servers of
    the app, a `web` and an `api` pool, each telling which it is; yields nginx's port."""
    servers = []
    for name in ("web", "api"):
        server = make_server("127.0.0.1", 0, _echo_app(database_url, TRUSTED_PROXIES=1, POOL_NAME=name),
                             threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    port = _free_port()
    conf = Template((ROOT / "config/nginx/local-front.conf").read_text()).substitute(
        user="user root;" if os.geteuid() == 0 else "", folder=tmp_path, port=port,
        web_port=servers[0].server_port, api_port=servers[1].server_port,
        routes=ROOT / "config/nginx/outletpool-routes.conf")
    (tmp_path / "nginx.conf").write_text(conf)
    nginx = subprocess.Popen(  # noqa: S603 (our own config, in our own folder)
        [shutil.which("nginx"), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while nginx.poll() is None and time.monotonic() < deadline:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                time.sleep(0.05)
        assert nginx.poll() is None, nginx.stderr.read().decode()
        yield port
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        for server in servers:
            server.shutdown()


def _through(port: int, path: str, **headers) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    assert response.status == 200, response.read()
    return json.loads(response.read())


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (CI installs nginx-light)")
def test_nginx_sends_the_api_to_its_pool_and_pages_to_theirs_with_the_clients_address(nginx_front):
    forged = {"X-Forwarded-For": "203.0.113.9"}  # what a client may send; nginx appends the real one
    api = _through(nginx_front, "/api/v1/_whoami", **forged)
    page = _through(nginx_front, "/_whoami", **forged)
    assert api["pool"] == "api" and page["pool"] == "web"
    assert api["ip"] == page["ip"] == "127.0.0.1"
    assert api["scheme"] == page["scheme"] == "http"
    assert api["host"] == page["host"] == f"127.0.0.1:{nginx_front}"


def _nice_of_threads(pid: int) -> set[int]:
    """The nice value of every thread of process `pid` (field 19 of /proc/<pid>/task/<tid>/stat)."""
    values = set()
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        values.add(int(fields[16]))
    return values


def _children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                children.append(int(stat.parent.name))
        except OSError:  # a process that ended meanwhile
            pass
    return children


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads threads' priority from /proc")
def test_gunicorn_nice_lowers_the_priority_of_every_thread_of_every_worker(database_url, tmp_path, app):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "OUTLETPOOL_ENV": "development",
           "OUTLETPOOL_INSTANCE": str(tmp_path), "PORT": str(port), "GUNICORN_NICE": "10",
           "WEB_CONCURRENCY": "2", "LOG_LEVEL": "warning", "REDIS_URL": ""}
    server = subprocess.Popen(  # noqa: S603 (the project's own gunicorn and config)
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "config/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        answered = 0
        deadline = time.monotonic() + 30
        while answered < 8 and time.monotonic() < deadline and server.poll() is None:
            try:  # a worker starts its request threads with its first requests
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                answered += conn.getresponse().status == 200
            except OSError:
                time.sleep(0.1)
        assert answered == 8, server.stderr.read1().decode() if server.poll() is not None else answered
        workers = _children_of(server.pid)
        assert len(workers) == 2
        for worker in workers:
            assert _nice_of_threads(worker) == {10}
        assert _nice_of_threads(server.pid) == {0}  # the master only supervises
    finally:
        server.terminate()
        server.wait(timeout=30)


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
