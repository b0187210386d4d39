"""Browser tests: Playwright (sync API) driving Debian's Chromium against a live gunicorn.

One server per session, on a fresh database: PostgreSQL when E2E_DATABASE_URL (or
TEST_DATABASE_URL) names one, a temporary SQLite file otherwise. `flask setup` migrates it and
creates the demo logins, `flask seed-demo --outlets 500` (E2E_DEMO_OUTLETS) adds a small demo
pool (listed outlets in Shenzhen, two listed outlets of the demo provider; about a second);
gunicorn then serves it on a free port until the session ends.

Card payments: when the `localstripe` package is installed (the dev extra), a localstripe
process is started on 127.0.0.1 for the session and the server gets STRIPE_SECRET_KEY,
STRIPE_WEBHOOK_SECRET (STRIPE_TEST_WEBHOOK_SECRET here) and STRIPE_API_BASE pointing at it, but
no publishable key: Stripe.js cannot load offline, so tests confirm a PaymentIntent against
localstripe themselves and deliver the signed webhook (see test_full_journey.py).
`live_server.flask("tick", "--now", ...)` runs a CLI command against the server's database.

Chromium is /usr/bin/chromium or $CHROMIUM_PATH. Without it the tests skip, except under
CI=true, where a missing browser is a failure.

Screenshots land in test-output/screenshots/ (at the repository root), named
<test>-<language>-<what>.png; a failing test also leaves <test>-FAILED.png there.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import postgres_database

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
OUTPUT_DIR = REPO_ROOT / "test-output"
SCREENSHOT_DIR = OUTPUT_DIR / "screenshots"

DEMO_PASSWORD = "outletpool-demo"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT = 60.0  # seconds, for /healthz to answer 200
DEFAULT_TIMEOUT_MS = 15_000  # Playwright actions and expectations
# The demo pool the server starts with: small enough to seed in about a second, large
# enough (with the default seed) for listed outlets in Shenzhen and for the demo provider.
DEMO_POOL_OUTLETS = os.environ.get("E2E_DEMO_OUTLETS", "500")
STRIPE_TEST_SECRET_KEY = "sk_test_local"
STRIPE_TEST_WEBHOOK_SECRET = "whsec_test_outletpool_e2e"
LOCALSTRIPE_LAUNCH = ("import sys; from aiohttp import web; from localstripe.server import app; "
                      "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None)")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str):
    """Skip locally; fail under CI, where the browser tests must really run."""
    if _in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120]


# --------------------------------------------------------------------------- database


@pytest.fixture(scope="session")
def e2e_database_url(tmp_path_factory):
    base = os.environ.get("E2E_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if base and base.startswith(("postgres://", "postgresql")):
        url, drop = postgres_database(base, prefix="outletpool_e2e")
        try:
            yield url
        finally:
            drop()
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('e2e-db') / 'outletpool.db'}"


# --------------------------------------------------------------------------- live server


@dataclass
class LiveServer:
    url: str
    database_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict, repr=False)
    stripe_api_base: str | None = None  # localstripe, when the server takes card payments

    def flask(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """`flask --app wsgi <args>` against the server's database; fails the test on error."""
        done = subprocess.run(  # noqa: S603
            [str(VENV_BIN / "flask"), "--app", "wsgi", *args], cwd=REPO_ROOT, env=self.env,
            capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            pytest.fail(f"`flask {' '.join(args)}` failed ({done.returncode}):\n"
                        f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}", pytrace=False)
        return done

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _server_env(database_url: str, instance: Path, port: int) -> dict[str, str]:
    # Never a real Stripe account from the caller's environment: localstripe or nothing.
    env = {k: v for k, v in os.environ.items()
           if k not in {"TEST_DATABASE_URL", "E2E_DATABASE_URL", "SECRET_KEY", "REDIS_URL"}
           and not k.startswith("STRIPE_")}
    env.update({
        "DATABASE_URL": database_url,
        "OUTLETPOOL_ENV": "development",
        "OUTLETPOOL_INSTANCE": str(instance),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _wait_healthy(url: str, process: subprocess.Popen, log: LiveServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode} before /healthz answered:\n"
                        f"{log.log_tail()}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.2)
    pytest.fail(f"/healthz did not answer 200 within {SERVER_START_TIMEOUT:.0f}s "
                f"({last_error}):\n{log.log_tail()}", pytrace=False)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # gunicorn master and its workers
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def localstripe_url():
    """localstripe on 127.0.0.1 for the session, or None when it is not installed or does not
    start (the card payment step then says so; CI installs the dev extra, so there it fails)."""
    try:
        import localstripe  # noqa: F401
    except ImportError:
        yield None
        return
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", LOCALSTRIPE_LAUNCH, str(port)],  # noqa: S603
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        request = urllib.request.Request(f"{url}/v1/customers",  # noqa: S310
                                         headers={"Authorization": f"Bearer {STRIPE_TEST_SECRET_KEY}"})
        try:
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310
                break
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    else:
        _stop(process)
        yield None
        return
    try:
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def live_server(e2e_database_url, tmp_path_factory, localstripe_url):
    """`flask setup` on a fresh database, then gunicorn on a free port; yields a LiveServer."""
    instance = tmp_path_factory.mktemp("e2e-instance")
    port = _free_port()
    env = _server_env(e2e_database_url, instance, port)
    if localstripe_url:
        env.update({"STRIPE_SECRET_KEY": STRIPE_TEST_SECRET_KEY,
                    "STRIPE_WEBHOOK_SECRET": STRIPE_TEST_WEBHOOK_SECRET,
                    "STRIPE_API_BASE": localstripe_url, "STRIPE_EMULATOR": "localstripe"})
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)

    for command in (["setup"], ["seed-demo", "--outlets", DEMO_POOL_OUTLETS]):
        done = subprocess.run(  # noqa: S603
            [str(VENV_BIN / "flask"), "--app", "wsgi", *command],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"`flask --app wsgi {' '.join(command)}` failed ({done.returncode}):\n"
                        f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}", pytrace=False)

    log_path = OUTPUT_DIR / "e2e-server.log"
    server = LiveServer(url=f"http://127.0.0.1:{port}", database_url=e2e_database_url,
                        log_path=log_path, env=env, stripe_api_base=localstripe_url)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603
            [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "wsgi:app"],
            cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(server.url, process, server)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server.url


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    candidate = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
    path = candidate if os.path.isfile(candidate) else shutil.which(candidate)
    if not path or not os.access(path, os.X_OK):
        _unavailable(f"no Chromium at {candidate} "
                     "(install Debian's `chromium` or set CHROMIUM_PATH)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the `playwright` package is not installed (pip install -e '.[dev]')")
    return path


@pytest.fixture(scope="session")
def browser(chromium_executable, live_server):
    # Depends on live_server so the browser closes before the server stops.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_executable,
                                              headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageEvents:
    """What a page did: requests made, console messages, uncaught errors, failed responses."""

    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str, str]] = field(default_factory=list)  # (type, text, url)
    page_errors: list[str] = field(default_factory=list)
    bad_responses: list[tuple[int, str]] = field(default_factory=list)

    def csp_errors(self) -> list[str]:
        return [text for _type, text, _url in self.console
                if "content security policy" in text.lower() or "refused to" in text.lower()]

    def console_errors(self) -> list[str]:
        # Chromium may ask for /favicon.ico on its own; the platform has none.
        return [text for kind, text, url in self.console
                if kind == "error" and not url.endswith("/favicon.ico")]

    def clear(self) -> None:
        self.requests.clear()
        self.console.clear()
        self.page_errors.clear()
        self.bad_responses.clear()


def _attach(page, events: PageEvents) -> None:
    page.on("request", lambda req: events.requests.append(req.url))
    page.on("console", lambda msg: events.console.append(
        (msg.type, msg.text, (msg.location or {}).get("url", ""))))
    page.on("pageerror", lambda exc: events.page_errors.append(str(exc)))
    page.on("response", lambda res: res.status >= 400 and not res.url.endswith("/favicon.ico")
            and events.bad_responses.append((res.status, res.url)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def new_page(browser, base_url, request):
    """Factory: new_page(locale="zh-CN") -> a page in a fresh context sending that locale.

    The page's events are collected in `page.events` (a PageEvents). On failure, every page
    opened by the test is screenshotted to test-output/screenshots/<test>-FAILED[-n].png.
    """
    contexts = []
    pages = []

    def make(locale: str = "zh-CN"):
        context = browser.new_context(
            base_url=base_url,
            locale=locale,
            extra_http_headers={"Accept-Language": locale},
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.events = PageEvents()
        _attach(page, page.events)
        pages.append(page)
        return page

    yield make

    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        for index, page in enumerate(pages):
            suffix = f"-{index}" if index else ""
            path = SCREENSHOT_DIR / f"{_slug(request.node.name)}-FAILED{suffix}.png"
            with contextlib.suppress(Exception):
                page.screenshot(path=path, full_page=True)
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


@pytest.fixture
def page(new_page, request):
    """A page in a fresh context. Locale: `@pytest.mark.parametrize("locale", ...)` or zh-CN."""
    locale = request.getfixturevalue("locale") if "locale" in request.fixturenames else "zh-CN"
    return new_page(locale)


@pytest.fixture
def screenshot(request):
    """screenshot(page, "what") -> test-output/screenshots/<test>-<html lang>-<what>.png."""

    def take(page, what: str) -> Path:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        lang = page.get_attribute("html", "lang") or "unknown"
        name = f"{_slug(request.node.originalname)}-{_slug(lang)}-{_slug(what)}.png"
        path = SCREENSHOT_DIR / name
        page.screenshot(path=path, full_page=True)
        return path

    return take


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def sign_in():
    """sign_in(page, email, password=DEMO_PASSWORD): through /login; waits for the dashboard."""

    def do(page, email: str, password: str = DEMO_PASSWORD) -> None:
        page.goto("/login")
        form = page.get_by_test_id("login-form")
        form.locator("input[name=email]").fill(email)
        form.locator("input[name=password]").fill(password)
        with page.expect_navigation():
            form.locator("[type=submit]").click()
        if urlsplit(page.url).path != "/dashboard":
            errors = page.locator(".form-errors").all_inner_texts()
            raise AssertionError(f"sign-in as {email} landed on {page.url}: {errors}")

    return do
