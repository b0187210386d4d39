"""A realistic traffic mix through gunicorn + PostgreSQL on the national demo data.

The script
  1. creates a scratch PostgreSQL database (BENCH_PG_URL, default the local server) and runs
     `flask setup` and `flask seed-demo` on it (10,257 outlets, 153 makers' sales, contracts),
  2. serves it in each layout in turn, with an emptied Redis (rate limits, shared read cache):
        one pool   gunicorn (config/gunicorn.conf.py: a worker per core, two threads each),
                   the clients straight to it;
        two pools  nginx (config/nginx/local-front.conf, routing by outletpool-routes.conf
                   as docs/deploy.md deploys it) in front of two such gunicorns, one for
                   pages and one for /api/ at a lower CPU priority (GUNICORN_NICE=10),
  3. signs the demo maker in twice: a bearer token for the API, a session cookie for pages,
  4. drives this mix with wrk at 32 and at 128 keep-alive connections, several rounds each:
        30 %  pool search, API        GET /api/v1/outlets?<six kinds of search>
        10 %  pool page               GET /pool?<city or province>
        25 %  outlet page             GET /outlets/<id>
        10 %  obligations page        GET /obligations             (session cookie)
        15 %  obligations, API        GET /api/v1/manufacturers/me/obligations  (bearer)
        10 %  coverage plan request   POST /api/v1/manufacturers/me/coverage-plans (bearer; solved and saved)
     while a light probe (PROBE_THREADS sequential clients) times each kind of request as a
     user sees it under that load,
  5. prints throughput, p50/p95/p99 and errors of the mix (wrk), and per kind p50/p95 from
     the probe; the figures are medians over the rounds. Then the two layouts side by side,
     two pools against one measured in the same run. The database is dropped at the end.

    .venv/bin/python bench/load_mix.py [--connections 32,128] [--rounds 3] [--seconds 15]
                                       [--layouts one,two] [--database URL]

The two-pool layout needs nginx (Debian: apt-get install nginx-light); without it only the
one-pool layout is measured.

Targets: zero errors; page views (pool, outlet, obligations pages) p95 under 200 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from string import Template
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import (
    drop_postgres,
    free_port,
    gunicorn_layout,
    percentile,
    postgres_url,
    search_mix,
    shared_cache_url,
    start_gunicorn,
    stop_gunicorn,
    wait_until_healthy,
)

ROOT = Path(__file__).resolve().parent.parent
PROBE_THREADS = int(os.environ.get("PROBE_THREADS", "3"))
PAGE_KINDS = ("pool page", "outlet page", "obligations page")
MIX = (("pool search API", 30), ("pool page", 10), ("outlet page", 25), ("obligations page", 10),
       ("obligations API", 15), ("plan request", 10))
DEMO_PASSWORD = "outletpool-demo"  # noqa: S105  (the published demo logins)
MAKER = "maker@outletpool.demo"


def flask(url: str, instance: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "OUTLETPOOL_ENV": "development",
           "OUTLETPOOL_INSTANCE": instance, "FLASK_APP": "wsgi"}
    done = subprocess.run([str(ROOT / ".venv/bin/flask"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def build_demo(url: str, instance: str) -> float:
    started = time.perf_counter()
    flask(url, instance, "setup")
    flask(url, instance, "seed-demo")
    return time.perf_counter() - started


@contextmanager
def demo_database(existing: str | None, prefix: str) -> Iterator[tuple[str, str]]:
    """(database URL, instance folder): `existing` kept as it is, or a scratch PostgreSQL
    database with the demo data, dropped at the end."""
    url = existing or postgres_url()  # postgres_url() creates a scratch database
    if url is None:
        sys.exit("PostgreSQL is needed (BENCH_PG_URL)")
    instance = tempfile.mkdtemp(prefix=prefix)
    try:
        if not existing:
            print(f"demo data on a scratch database: {build_demo(url, instance):.0f} s")
        yield url, instance
    finally:
        if not existing:
            drop_postgres(url)
        shutil.rmtree(instance, ignore_errors=True)


def api_token(port: int, email: str = MAKER) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/api/v1/auth/tokens", body=json.dumps(
        {"email": email, "password": DEMO_PASSWORD, "name": "bench"}),
        headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    body = json.loads(response.read())
    if response.status != 201:
        raise RuntimeError(f"token: {response.status} {body}")
    return body["token"]


def _cookie(response, name: str = "session") -> str:
    for header in response.msg.get_all("Set-Cookie") or []:
        if header.startswith(name + "="):
            return header.split(";", 1)[0]
    raise RuntimeError(f"no {name} cookie in the answer ({response.status})")


def session_cookie(port: int, email: str = MAKER) -> str:
    """Sign in through the login form (CSRF token and all); the session cookie to send."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = _cookie(response)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    conn.request("POST", "/login", body=urlencode(
        {"email": email, "password": DEMO_PASSWORD, "csrf_token": token}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = conn.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"login answered {response.status}")
    return _cookie(response)


def demo_targets(url: str) -> dict:
    """Cities (for searches and pool pages) and listed outlet ids (for outlet pages)."""
    import psycopg

    with psycopg.connect(url) as conn:
        cities = [{"code": c, "province": p, "lat": la, "lon": lo, "name": n}
                  for c, p, la, lo, n in conn.execute(
                      "SELECT code, province_code, lat, lon, name FROM divisions "
                      "WHERE level = 'prefecture' AND lat IS NOT NULL")]
        outlets = [r[0] for r in conn.execute("SELECT id FROM outlets WHERE status = 'listed'")]
    return {"cities": cities, "outlets": outlets}


def requests_for(kind: str, targets: dict, rng: random.Random, auth: dict) -> dict:
    """One request of `kind`: method, path, headers, body."""
    city = rng.choice(targets["cities"])
    bearer = {"Authorization": f"Bearer {auth['token']}"}
    cookie = {"Cookie": auth["cookie"]}
    if kind == "pool search API":
        return {"method": "GET", "path": search_mix(targets["cities"], rng, 1)[0], "headers": bearer}
    if kind == "pool page":
        query = {"city": city["code"]} if rng.random() < 0.7 else {"province": city["province"]}
        return {"method": "GET", "path": "/pool?" + urlencode(query), "headers": cookie}
    if kind == "outlet page":
        return {"method": "GET", "path": f"/outlets/{rng.choice(targets['outlets'])}", "headers": cookie}
    if kind == "obligations page":
        return {"method": "GET", "path": "/obligations", "headers": cookie}
    if kind == "obligations API":
        return {"method": "GET", "path": "/api/v1/manufacturers/me/obligations", "headers": bearer}
    if kind == "plan request":
        body = json.dumps({"certified_only": rng.random() < 0.3}) if rng.random() < 0.5 else "{}"
        return {"method": "POST", "path": "/api/v1/manufacturers/me/coverage-plans",
                "headers": {**bearer, "Content-Type": "application/json"}, "body": body}
    raise ValueError(kind)


def mix_requests(targets: dict, auth: dict, count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    kinds = [k for k, weight in MIX for _ in range(weight)]
    return [requests_for(rng.choice(kinds), targets, rng, auth) for _ in range(count)]


WRK_SCRIPT = r"""
local requests = {}
for line in io.lines(os.getenv("WRK_REQUESTS")) do
  local method, path, headers, body = line:match("^(%S+)\t(%S+)\t([^\t]*)\t?(.*)$")
  -- Host: HTTP/1.1 requires it, and nginx refuses a request without it (gunicorn lets it pass)
  local h = {["Accept-Language"] = "en", ["Host"] = os.getenv("WRK_HOST")}
  for name, value in headers:gmatch("([^|=]+)=([^|]*)") do h[name] = value end
  if body == "" then body = nil end
  requests[#requests + 1] = wrk.format(method, path, h, body)
end
local i = 0
init = function(args) i = math.random(#requests) end
request = function()
  i = i % #requests + 1
  return requests[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %f %f %f %d %d %d %d %d %d %d\n", latency:percentile(50),
    latency:percentile(95), latency:percentile(99), summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def write_wrk_inputs(requests: list[dict], workdir: Path) -> tuple[Path, Path]:
    lines = []
    for r in requests:
        headers = "|".join(f"{k}={v}" for k, v in r["headers"].items())
        lines.append("\t".join([r["method"], r["path"], headers, r.get("body", "")]))
    (workdir / "requests.tsv").write_text("\n".join(lines) + "\n")
    (workdir / "mix.lua").write_text(WRK_SCRIPT)
    return workdir / "requests.tsv", workdir / "mix.lua"


def run_wrk(port: int, connections: int, seconds: int, requests_file: Path, script: Path) -> dict:
    threads = 2 if connections >= 2 else 1
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(script), f"http://127.0.0.1:{port}"],
        env={**os.environ, "WRK_REQUESTS": str(requests_file), "WRK_HOST": f"127.0.0.1:{port}"},
        capture_output=True, text=True, check=True).stdout
    fields = next(x for x in out.splitlines() if x.startswith("RESULT")).split()[1:]
    p50, p95, p99 = (float(v) / 1000 for v in fields[:3])
    count, duration_us = int(fields[3]), int(fields[4])
    connect, read, write, status, timeout = map(int, fields[5:])
    return {"p50": p50, "p95": p95, "p99": p99, "rps": count / (duration_us / 1e6),
            "requests": count, "errors": connect + read + write + status + timeout,
            "status_errors": status, "socket_errors": connect + read + write + timeout}


class Probe:
    """A few sequential clients timing each kind of request while wrk loads the server."""

    def __init__(self, port: int, targets: dict, auth: dict, seed: int):
        self.port, self.targets, self.auth = port, targets, auth
        self.rng = random.Random(seed)
        self.samples: dict[str, list[float]] = {k: [] for k, _ in MIX}
        self.failures: dict[str, int] = {k: 0 for k, _ in MIX}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(PROBE_THREADS)]

    def _run(self, index: int) -> None:
        kinds = [k for k, _ in MIX]
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        n = index
        while not self.stop.is_set():
            kind = kinds[n % len(kinds)]
            n += 1
            with self.lock:
                request = requests_for(kind, self.targets, self.rng, self.auth)
            started = time.perf_counter()
            try:
                conn.request(request["method"], request["path"], body=request.get("body"),
                             headers={"Accept-Language": "en", **request["headers"]})
                response = conn.getresponse()
                response.read()
                ok = response.status < 400
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            elapsed = time.perf_counter() - started
            with self.lock:
                self.samples[kind].append(elapsed)
                if not ok:
                    self.failures[kind] += 1
        conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def measure(port: int, targets: dict, auth: dict, connections: int, rounds: int,
            seconds: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="bench-mix-"))
    results, probes = [], []
    for round_ in range(rounds):
        requests_file, script = write_wrk_inputs(
            mix_requests(targets, auth, 6000, seed=1000 * connections + round_), workdir)
        with Probe(port, targets, auth, seed=round_) as probe:
            results.append(run_wrk(port, connections, seconds, requests_file, script))
        probes.append(probe)
    shutil.rmtree(workdir, ignore_errors=True)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    kinds = {}
    for kind, _ in MIX:
        p50s = [statistics.median(p.samples[kind]) * 1000 for p in probes if p.samples[kind]]
        p95s = [percentile(p.samples[kind], 95) * 1000 for p in probes if p.samples[kind]]
        kinds[kind] = {"p50": statistics.median(p50s) if p50s else float("nan"),
                       "p95": statistics.median(p95s) if p95s else float("nan"),
                       "samples": sum(len(p.samples[kind]) for p in probes),
                       "failures": sum(p.failures[kind] for p in probes)}
    return {"connections": connections, "rps": med("rps"), "p50": med("p50"), "p95": med("p95"),
            "p99": med("p99"), "errors": sum(r["errors"] for r in results),
            "requests": sum(r["requests"] for r in results), "rounds": results, "kinds": kinds}


def report(summary: dict) -> None:
    rounds = ", ".join(f"{r['rps']:.0f}" for r in summary["rounds"])
    print(f"\n{summary['connections']} connections: {summary['rps']:.0f} req/s (rounds {rounds}); "
          f"p50 {summary['p50']:.0f} ms, p95 {summary['p95']:.0f} ms, p99 {summary['p99']:.0f} ms; "
          f"errors {summary['errors']} of {summary['requests']:,} requests")
    print(f"  {'kind':<18} {'probe p50':>10} {'probe p95':>10} {'samples':>8} {'failed':>7}")
    for kind, figures in summary["kinds"].items():
        marker = "  (page view)" if kind in PAGE_KINDS else ""
        print(f"  {kind:<18} {figures['p50']:8.0f} ms {figures['p95']:8.0f} ms "
              f"{figures['samples']:8d} {figures['failures']:7d}{marker}")
    pages = [summary["kinds"][k]["p95"] for k in PAGE_KINDS]
    print(f"  page views p95 (worst kind): {max(pages):.0f} ms (target < 200 ms); "
          f"errors {summary['errors']} (target 0)")


LAYOUTS = {"one": "one pool: gunicorn, clients straight to it",
           "two": "two pools: nginx -> gunicorn for pages, gunicorn at nice 10 for /api/"}


@contextmanager
def serving(layout: str, url: str, instance: str) -> Iterator[tuple[int, str]]:
    """The platform in `layout`, with an emptied shared cache; yields (port, Redis URL)."""
    redis_url = shared_cache_url()  # as deployed: rate limits and the shared read cache
    env = {"REDIS_URL": redis_url or ""}
    servers: list[subprocess.Popen] = []
    folder = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    nginx = None
    try:
        servers.append(start_gunicorn(url, web := free_port(), instance, extra_env=env))
        if layout == "one":
            yield web, redis_url
            return
        # as docs/deploy.md runs it: the API's pool at a lower CPU priority than the pages'
        servers.append(start_gunicorn(url, api := free_port(), instance,
                                      extra_env={**env, "GUNICORN_NICE": "10"}))
        port = free_port()
        # nginx's workers run as `user` when started by root; they write its temp files here
        user = "user root;" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(Template(
            (ROOT / "config/nginx/local-front.conf").read_text()).substitute(
            user=user, folder=folder, web_port=web, api_port=api, port=port,
            routes=ROOT / "config/nginx/outletpool-routes.conf"))
        nginx = subprocess.Popen(["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_healthy(port, nginx, f"nginx (see {folder}/error.log)")
        yield port, redis_url
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
        for server in servers:
            stop_gunicorn(server)
        shutil.rmtree(folder, ignore_errors=True)


def compare(summaries: dict[str, list[dict]]) -> None:
    """Two pools against one, per connection count, from the same run."""
    print("\nlayouts side by side (two pools / one pool):")
    for one, two in zip(summaries["one"], summaries["two"], strict=True):
        page_one = max(one["kinds"][k]["p95"] for k in PAGE_KINDS)
        page_two = max(two["kinds"][k]["p95"] for k in PAGE_KINDS)
        api_one = max(one["kinds"][k]["p95"] for k, _ in MIX if k not in PAGE_KINDS)
        api_two = max(two["kinds"][k]["p95"] for k, _ in MIX if k not in PAGE_KINDS)
        print(f"  {one['connections']:>3} connections: req/s {one['rps']:.0f} -> {two['rps']:.0f} "
              f"(x{two['rps'] / one['rps']:.2f}); page views p95 {page_one:.0f} -> {page_two:.0f} ms "
              f"(x{page_two / page_one:.2f}); API p95 {api_one:.0f} -> {api_two:.0f} ms "
              f"(x{api_two / api_one:.2f}); errors {one['errors']} and {two['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="32,128")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--layouts", default="one,two", help="one, two or both (one,two)")
    parser.add_argument("--database", help="an existing demo database to use (kept) instead of a scratch one")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (Debian: apt-get install wrk)")
    layouts = [x for x in args.layouts.split(",") if x]
    if unknown := set(layouts) - set(LAYOUTS):
        sys.exit(f"--layouts: unknown {', '.join(sorted(unknown))} (one, two)")
    if "two" in layouts and shutil.which("nginx") is None:
        print("nginx not found (Debian: apt-get install nginx-light): measuring one pool only")
        layouts.remove("two")
    summaries: dict[str, list[dict]] = {}
    with demo_database(args.database, "bench-mix-instance-") as (url, instance):
        targets = demo_targets(url)
        for layout in layouts:
            with serving(layout, url, instance) as (port, redis_url):
                auth = {"token": api_token(port), "cookie": session_cookie(port)}
                print(f"\n== {LAYOUTS[layout]}; gunicorn {gunicorn_layout()} per pool; "
                      f"{len(targets['outlets']):,} listed outlets; {args.rounds} rounds of "
                      f"{args.seconds} s per connection count (medians); probe: {PROBE_THREADS} "
                      f"sequential clients; Redis: {redis_url or 'none'}; "
                      f"load average before: {os.getloadavg()[0]:.2f}")
                warm = mix_requests(targets, auth, 300, seed=1)
                with tempfile.TemporaryDirectory(prefix="bench-warm-") as folder:
                    run_wrk(port, 8, 5, *write_wrk_inputs(warm, Path(folder)))
                summaries[layout] = []
                for connections in (int(c) for c in args.connections.split(",")):
                    summaries[layout].append(
                        measure(port, targets, auth, connections, args.rounds, args.seconds))
                    report(summaries[layout][-1])
        if len(summaries) == 2:
            compare(summaries)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
