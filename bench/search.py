"""Pool search under load: latency and throughput through gunicorn, at two pool sizes.

For each database (SQLite file, and PostgreSQL when BENCH_PG_URL or the default local server
answers), the script:
  1. builds a fresh database per pool size (10,257 and 100,000 listed outlets: migrations +
     reference data + N synthetic listed outlets),
  2. starts gunicorn (config/gunicorn.conf.py) on a free port for each size, once with the pool
     cache off (DATA_CACHE_ENTRIES=0: every search reads the database) and once with it on as
     deployed (per process, and shared through Redis when BENCH_REDIS_URL or the local server
     answers),
  3. drives a mix of realistic searches with 32 concurrent keep-alive connections, and the
     trivial endpoint /healthz the same way, several rounds, the sizes taking turns within
     each round (so the machine's drift falls on both sides of the scaling ratio),
  4. prints median and p95 latency, requests/s, the search/trivial throughput ratio, each
     worker's RSS after the run, and the query plans of the typical searches.

    .venv/bin/python bench/search.py [--sizes 10257,100000] [--rounds 3] [--requests 1500]

Figures, not assertions: the targets are p95 < 50 ms at 100k, 100k no more than 1.5x slower
than 10k, search >= 40 % of the trivial endpoint's throughput, RSS < 250 MB per worker.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
# wrk (Debian package `wrk`) drives the load when present; the Python driver otherwise.
USE_WRK = shutil.which("wrk") is not None and os.environ.get("BENCH_DRIVER", "wrk") == "wrk"
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
CONCURRENCY = 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_database(url: str, size: int, seed: int = 7) -> list[dict]:
    """Schema, reference data and `size` listed outlets; returns the cities used."""
    os.environ["OUTLETPOOL_ENV"] = "testing"
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from app import create_app
    from app.extensions import db
    from app.models import Division, Organization, OrgKind, Outlet, VerificationStatus
    from services import credit_code, reference_data

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    rng = random.Random(seed)
    with app.app_context():
        upgrade()
        reference_data.load_all()
        providers = []
        for i in range(40):
            org = Organization(kind=OrgKind.PROVIDER, legal_name=f"基准回收企业{i}有限公司",
                               credit_code=credit_code.make(f"91440300{i:09d}"), address="广东省深圳市",
                               division_code="440300", verification_status=VerificationStatus.VERIFIED)
            db.session.add(org)
            providers.append(org)
        db.session.flush()
        cities = [d for d in db.session.query(Division).filter(Division.level == "prefecture")
                  if d.lat is not None]
        districts: dict[str, list] = {}
        for d in db.session.query(Division).filter(Division.level == "district"):
            districts.setdefault(d.parent_code, []).append(d)
        rows = []
        for n in range(size):
            city = rng.choice(cities)
            district = rng.choice(districts.get(city.code) or [None])
            provider = providers[n % len(providers)]
            name = f"回收服务网点{n:06d}"
            address = f"{city.name}{district.name if district else ''}工业路{rng.randint(1, 999)}号"
            capacity = rng.choice([50, 100, 200, 500, 1000, 3000])
            rows.append({
                "provider_id": provider.id, "name": name, "address": address,
                "province_code": city.province_code, "city_code": city.code,
                "district_code": district.code if district else None,
                "lat": city.lat + rng.uniform(-0.15, 0.15), "lon": city.lon + rng.uniform(-0.15, 0.15),
                "type": rng.choice(["collection", "collection", "centralized_storage"]),
                "storage_area_m2": 40.0, "max_stored_weight_t": 5.0, "annual_capacity_t": capacity,
                "chemistries": ["LFP"], "safety_classes": ["A"], "establishment": "self_built",
                "status": "listed", "compliant": True, "certified": rng.random() < 0.2,
                "available_capacity_t": capacity * rng.choice([0.2, 0.5, 1.0]),
                "annual_fee_fen": rng.choice([0, 500_000, 1_200_000, 3_000_000]),
                "handling_fee_fen_per_t": rng.choice([5_000, 10_000, 20_000]),
                "search_text": f"{name} {address} {provider.legal_name}".lower(),
            })
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(Outlet), rows[start:start + 5000])
        db.session.commit()
        # Fresh statistics for the planner; on PostgreSQL also the visibility map that
        # index-only scans need (what autovacuum does for a live database).
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE outlets")
                conn.exec_driver_sql("CHECKPOINT")  # the load's writes flushed before, not during, the run
        else:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        used = [{"code": c.code, "province": c.province_code, "lat": c.lat, "lon": c.lon,
                 "name": c.name} for c in cities]
        db.engine.dispose()
    return used


def search_mix(cities: list[dict], rng: random.Random, count: int) -> list[str]:
    """The searches people make: a city, a province and type, near a point, text, capacity."""
    paths = []
    for _ in range(count):
        city = rng.choice(cities)
        kind = rng.randrange(6)
        if kind == 0:
            query = {"city": city["code"]}
        elif kind == 1:
            query = {"province": city["province"], "type": "centralized_storage", "sort": "annual_fee_fen"}
        elif kind == 2:
            query = {"near": f"{city['lat']:.4f},{city['lon']:.4f}", "radius_km": 30}
        elif kind == 3:
            query = {"city": city["code"], "min_capacity_t": 100, "certified": "true"}
        elif kind == 4:
            query = {"q": city["name"][:2], "province": city["province"]}
        else:
            query = {"province": city["province"], "max_annual_fee_fen": 1_200_000,
                     "sort": "-available_capacity_t", "page": 2}
        paths.append("/api/v1/outlets?" + urlencode(query))
    return paths


def drive(port: int, paths: list[str]) -> tuple[list[float], float, int]:
    """Send `paths` over CONCURRENCY keep-alive connections; latencies (s), wall time, errors."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    chunks = [paths[i::CONCURRENCY] for i in range(CONCURRENCY)]

    def worker(chunk: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for path in chunk:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Accept-Language": "en"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors[0] += 1
            except (OSError, http.client.HTTPException):
                errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - started)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started, errors[0]


WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["Accept-Language"] = "en"})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %f %f %d %d %d\\n", latency:percentile(50), latency:percentile(95),
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def drive_wrk(port: int, paths: list[str], seconds: int) -> tuple[float, float, float, int]:
    """wrk (C) as the load generator: it leaves the two cores to the server.
    Returns (p50 s, p95 s, requests/s, errors)."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        workdir = Path(folder)
        (workdir / "paths.txt").write_text("\n".join(paths) + "\n")
        (workdir / "mix.lua").write_text(WRK_SCRIPT)
        out = subprocess.run(
            ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "--timeout", "10s",
             "-s", str(workdir / "mix.lua"), f"http://127.0.0.1:{port}"],
            env={**os.environ, "WRK_PATHS": str(workdir / "paths.txt")},
            capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    p50, p95, requests, duration_us, errors = line.split()[1:]
    return (float(p50) / 1e6, float(p95) / 1e6, int(requests) / (int(duration_us) / 1e6),
            int(errors))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def gunicorn_layout() -> str:
    """Workers and threads as config/gunicorn.conf.py sets them from this environment."""
    import runpy

    settings = runpy.run_path(str(ROOT / "config/gunicorn.conf.py"))
    return f"{settings['workers']} workers x {settings['threads']} threads ({settings['worker_class']})"


def start_gunicorn(url: str, port: int, instance: str, *, log: Path | None = None,
                   extra_env: dict | None = None) -> subprocess.Popen:
    """gunicorn as in production (config/gunicorn.conf.py), on `port`; waits for /healthz."""
    env = {**os.environ, "DATABASE_URL": url, "PORT": str(port), "OUTLETPOOL_ENV": "development",
           "OUTLETPOOL_INSTANCE": instance,
           "LOG_LEVEL": "warning", **(extra_env or {})}
    stderr = log.open("ab") if log else subprocess.DEVNULL
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "config/gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
        env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    wait_until_healthy(port, server, "gunicorn" + (f" (see {log})" if log else ""))
    return server


def wait_until_healthy(port: int, process: subprocess.Popen, what: str) -> None:
    """Until /healthz on `port` answers 200; kills `process` if it does not within a minute."""
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{what} did not come up")


def stop_gunicorn(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=40)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def explain(url: str, cities: list[dict]) -> None:
    """Print the plans of the page query for the typical searches."""
    os.environ["OUTLETPOOL_ENV"] = "testing"
    from app import create_app
    from app.extensions import db

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    city = cities[0]
    samples = {"city": {"city": city["code"]},
               "near": {"near": f"{city['lat']},{city['lon']}", "radius_km": 30},
               "province+type": {"province": city["province"], "type": "centralized_storage"},
               "text in province": {"q": city["name"][:2], "province": city["province"]},
               "text, whole pool": {"q": city["name"][:2]}}
    with app.app_context():
        from services import pool_search

        for label, params in samples.items():
            for statement in pool_search.statements_for(params):
                compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
                prefix = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
                with db.engine.connect() as conn:
                    plan = conn.exec_driver_sql(prefix + str(compiled)).fetchall()
                lines = [" ".join(str(c) for c in row[-1:]) for row in plan]
                print(f"    plan [{label}]: " + " | ".join(lines))
        db.engine.dispose()


def run_database(label: str, urls: dict[int, str], rounds: int, requests: int) -> list[dict]:
    """Every size on one database, in both modes: the pool cache off (every search reads the
    database) and on (the default: a repeated search is a token read while the pool is
    unchanged). The sizes are measured in alternation, round by round, so a drift in the
    machine's speed (it moves by a third within minutes here) falls on every size alike and the
    scaling ratio compares like with like."""
    cities = {size: build_database(url, size) for size, url in urls.items()}
    summaries = []
    for cache_entries in (0, 2048):
        summaries += measure(label, urls, cities, rounds, requests, cache_entries)
    for size, url in urls.items():
        print(f"  query plans at {size:,} outlets:")
        explain(url, cities[size])
    return summaries


def shared_cache_url(index: int = 0) -> str | None:
    """An empty Redis database for the shared cache level (the index-th after BENCH_REDIS_URL's,
    one per server), or None (per-process level only)."""
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    base, number = url.rsplit("/", 1)
    url = f"{base}/{int(number) + index}"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).flushdb()
        return url
    except Exception:
        return None


def measure(label: str, urls: dict[int, str], cities: dict[int, list[dict]], rounds: int,
            requests: int, cache_entries: int) -> list[dict]:
    """One gunicorn per size, driven in turn: each round measures every size's search mix and
    its /healthz back to back."""
    servers, redis_urls, instances = {}, {}, []
    results = {size: {"search": [], "trivial": []} for size in urls}
    distinct, rss = [], {}
    rng = random.Random(42)
    try:
        for index, (size, url) in enumerate(urls.items()):
            instances.append(tempfile.mkdtemp(prefix="bench-instance-"))
            redis_urls[size] = shared_cache_url(index) if cache_entries else None
            port = free_port()
            servers[size] = (port, start_gunicorn(
                url, port, instances[-1], extra_env={"DATA_CACHE_ENTRIES": str(cache_entries),
                                                     "REDIS_URL": redis_urls[size] or ""}))
            drive(port, search_mix(cities[size], random.Random(index), 200))  # warm-up
        for _ in range(rounds):
            # The same searches at every size (the cities are the same; the pools differ).
            paths = search_mix(next(iter(cities.values())), rng, 5000 if USE_WRK else requests)
            distinct.append(len(set(paths)) / len(paths))
            for size, (port, _server) in servers.items():
                if USE_WRK:
                    results[size]["search"].append(drive_wrk(port, paths, SECONDS))
                    results[size]["trivial"].append(drive_wrk(port, ["/healthz"], SECONDS))
                    continue
                for kind, batch in (("search", paths), ("trivial", ["/healthz"] * requests)):
                    latencies, wall, errors = drive(port, batch)
                    results[size][kind].append((statistics.median(latencies),
                                                percentile(latencies, 95), len(latencies) / wall,
                                                errors))
        rss = {size: [rss_mb(pid) for pid in workers_of(server.pid)]
               for size, (_port, server) in servers.items()}
    finally:
        for _port, server in servers.values():
            stop_gunicorn(server)
        for instance in instances:
            shutil.rmtree(instance, ignore_errors=True)

    cache = "cache off"
    if cache_entries:
        cache = "cache on (+Redis)" if any(redis_urls.values()) else "cache on (local)"
    return [summarize(label, size, cache, results[size], rss[size],
                      statistics.median(distinct) if cache_entries else None) for size in urls]


def summarize(label: str, size: int, cache: str, runs: dict, rss: list[float],
              distinct: float | None) -> dict:
    """Medians over the rounds of one server, printed as a line and returned for the ratios."""
    def med(kind: str, index: int) -> float:
        return statistics.median(r[index] for r in runs[kind])

    summary = {"label": label, "cache": cache != "cache off", "size": size,
               "p50": med("search", 0) * 1000, "p95": med("search", 1) * 1000,
               "rps": med("search", 2), "trivial_rps": med("trivial", 2),
               "trivial_p95": med("trivial", 1) * 1000,
               "errors": sum(r[3] for r in runs["search"]), "rss": rss}
    summary["ratio"] = summary["rps"] / summary["trivial_rps"]
    print(f"  {label:<10} {size:>7,} outlets, {cache:<17}: "
          f"search p50 {summary['p50']:6.1f} ms  p95 {summary['p95']:6.1f} ms  "
          f"{summary['rps']:7.1f} req/s | trivial p95 {summary['trivial_p95']:5.1f} ms "
          f"{summary['trivial_rps']:7.1f} req/s | search/trivial {summary['ratio']:.2f} | "
          f"errors {summary['errors']} | worker RSS MB {', '.join(f'{r:.0f}' for r in rss)}"
          + (f" | distinct searches {distinct:.0%} of the list" if distinct is not None else ""))
    return summary


def postgres_url() -> str | None:
    base = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        import psycopg

        name = f"outletpool_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(base, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return base.rsplit("/", 1)[0] + "/" + name
    except Exception as exc:  # no server: SQLite only
        print(f"PostgreSQL not available ({type(exc).__name__}); SQLite only")
        return None


def drop_postgres(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10257,100000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    load = f"wrk, {SECONDS} s per round" if USE_WRK else f"Python threads, {args.requests} requests per round"
    print(f"pool search benchmark: {CONCURRENCY} concurrent keep-alive connections, {args.rounds} rounds "
          f"({load}), medians of rounds")
    summaries = []
    for database in args.databases.split(","):
        if database == "sqlite":
            with tempfile.TemporaryDirectory(prefix="bench-") as folder:
                urls = {size: f"sqlite:///{folder}/bench-{size}.db" for size in sizes}
                summaries += run_database("sqlite", urls, args.rounds, args.requests)
            continue
        urls = {}
        try:
            for size in sizes:
                url = postgres_url()
                if url is None:
                    break
                urls[size] = url
            if len(urls) == len(sizes):
                summaries += run_database("postgresql", urls, args.rounds, args.requests)
        finally:
            for url in urls.values():
                drop_postgres(url)
    print("\nscaling (p95 at the largest size / p95 at the smallest):")
    for label, cache in sorted({(s["label"], s["cache"]) for s in summaries}):
        runs = sorted((s for s in summaries if (s["label"], s["cache"]) == (label, cache)),
                      key=lambda s: s["size"])
        if len(runs) > 1:
            print(f"  {label}, cache {'on' if cache else 'off'}: {runs[-1]['p95'] / runs[0]['p95']:.2f}x "
                  f"(p50 {runs[-1]['p50'] / runs[0]['p50']:.2f}x)")


if __name__ == "__main__":
    main()
