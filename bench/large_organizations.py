"""The pages the largest organizations open, one request at a time, on the national demo data.

The demo holds providers with over a thousand outlets and makers filing for nearly three
hundred cities; a page that lists everything, or solves on every view, is seconds for them.
The script
  1. uses a demo database (--database, kept) or builds a scratch one (`flask setup` and
     `flask seed-demo` on BENCH_PG_URL, dropped at the end),
  2. adds a bench sign-in to the provider with the most outlets and to the manufacturer with
     the most sales records (owner; the demo password),
  3. starts gunicorn (config/gunicorn.conf.py, with Redis as deployed when the local server
     answers) and, signed in as each, opens every page below:
     once cold, then --runs times, and prints the bytes, the first time, the median and the
     slowest, and the median against /healthz's median in the same run.

    .venv/bin/python bench/large_organizations.py [--database URL] [--runs 7]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_mix import api_token, demo_database, session_cookie
from search import free_port, shared_cache_url, start_gunicorn, stop_gunicorn

PROVIDER_PAGES = ("/outlets/mine", "/outlets/mine?status=listed", "/outlets/mine?page=10",
                  "API /api/v1/organizations/{org}/outlets", "/certification", "/contracts/requests",
                  "/billing/invoices", "/billing/statement")
MAKER_PAGES = ("/obligations", "/obligations?status=uncovered", "/sales", "/coverage-plans",
               "/cobuilding", "/contracts/agreements", "/billing/invoices", "/filings")
BENCH_USERS = {"provider": "bench-provider@outletpool.demo", "manufacturer": "bench-maker@outletpool.demo"}


def add_bench_users(url: str) -> dict[str, tuple[str, int, str, int]]:
    """kind -> (e-mail, organization id, its name, its size): a sign-in for the largest of each."""
    import psycopg

    largest = {
        "provider": "SELECT provider_id, count(*) FROM outlets GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
        "manufacturer": "SELECT manufacturer_id, count(*) FROM sales_records "
                        "GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
    }
    found = {}
    with psycopg.connect(url) as conn:
        for kind, query in largest.items():
            org_id, size = conn.execute(query).fetchone()
            name = conn.execute("SELECT legal_name FROM organizations WHERE id = %s", (org_id,)).fetchone()[0]
            email = BENCH_USERS[kind]
            # The demo users' hash is of the demo password: the bench users sign in with it too.
            conn.execute(
                "INSERT INTO users (email, name, password_hash, is_active_flag, created_at) "
                "SELECT %s, 'bench', password_hash, true, now() FROM users "
                "WHERE email = 'provider@outletpool.demo' ON CONFLICT (email) DO NOTHING", (email,))
            conn.execute(
                "INSERT INTO memberships (user_id, organization_id, role, created_at) "
                "SELECT id, %s, 'owner', now() FROM users WHERE email = %s "
                "ON CONFLICT (user_id, organization_id) DO NOTHING", (org_id, email))
            found[kind] = (email, org_id, name, size)
    return found


def fetch(port: int, path: str, headers: dict) -> tuple[float, int, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    size = len(response.read())
    return time.perf_counter() - started, size, response.status


def measure(port: int, path: str, headers: dict, runs: int) -> dict:
    first, size, status = fetch(port, path, headers)
    times = [fetch(port, path, headers)[0] for _ in range(runs)]
    return {"status": status, "bytes": size, "first": first, "median": statistics.median(times),
            "slowest": max(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="an existing demo database to use (kept) instead of a scratch one")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with demo_database(args.database, "bench-large-") as (url, instance):
        users = add_bench_users(url)
        port = free_port()
        # As deployed: the read cache shared through Redis, so a question one worker answered
        # is not computed again by the other.
        server = start_gunicorn(url, port, instance, extra_env={"REDIS_URL": shared_cache_url() or ""})
        try:
            healthz = measure(port, "/healthz", {}, args.runs)["median"]
            print(f"/healthz median {healthz * 1000:.1f} ms (the baseline); "
                  f"{args.runs} runs after a cold one\n")
            for kind, pages in (("provider", PROVIDER_PAGES), ("manufacturer", MAKER_PAGES)):
                email, org_id, name, size = users[kind]
                what = "outlets" if kind == "provider" else "sales records"
                print(f"{kind} {name} (#{org_id}, {size:,} {what})")
                cookie = {"Cookie": session_cookie(port, email), "Accept-Language": "zh-CN"}
                bearer = {"Authorization": f"Bearer {api_token(port, email)}"}
                print(f"  {'page':44} {'status':>6} {'kB':>7} {'first':>9} {'median':>9} "
                      f"{'slowest':>9} {'x healthz':>9}")
                for page in pages:
                    path = page.removeprefix("API ").format(org=org_id)
                    row = measure(port, path, bearer if page.startswith("API ") else cookie, args.runs)
                    print(f"  {page.format(org=org_id):44} {row['status']:>6} {row['bytes'] / 1000:>7.1f} "
                          f"{row['first'] * 1000:>7.0f} ms {row['median'] * 1000:>6.0f} ms "
                          f"{row['slowest'] * 1000:>6.0f} ms {row['median'] / healthz:>9.0f}")
                print()
        finally:
            stop_gunicorn(server)


if __name__ == "__main__":
    main()
