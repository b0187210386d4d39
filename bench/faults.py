"""Faults under load: killed workers, a killed tick, the database going away; then every invariant.

The script runs its own PostgreSQL 15 instance (initdb in a temporary directory, port
FAULTS_PG_PORT, default 5439, run as the `postgres` system user) so stopping the database
cannot disturb anything else on the machine; `--system-cluster` uses `pg_ctlcluster 15 main`
instead (and restarts it in every case). Then:

  1. `flask setup` + `flask seed-demo`, 16 extra verified manufacturers with API tokens,
     gunicorn (config/gunicorn.conf.py);
  2. contract acceptance under SIGKILL: each maker requests capacity at each of the demo
     provider's listed outlets (together about twice what the offers hold) and the provider
     accepts all of them, from 8 threads, while a killer SIGKILLs a random serving gunicorn
     worker every 0.5-1.5 s; clients retry a broken connection as a real client would. Then every party
     signs every version awaiting signatures, under the same killer;
  3. invoice generation under SIGKILL: `flask tick --now <next quarter>` is SIGKILLed at a
     random moment three times, then runs to the end;
  4. the database stops for 10 s under load (page views and /healthz polling), then starts;
  5. checks: no offer overbooked (pending + active allocations <= offered tonnes), every
     ledger transaction sums to zero, every agreement has a version, every pending/active
     allocation is in a version document of its agreement, every accepted request has its
     allocation, every invoice has lines and its balanced ledger transaction and numbers are
     gapless per issuer, `flask audit verify` passes, /healthz and pages answered 503 during
     the outage and requests succeed afterwards without restarting anything. Prints a report; exits 1
     if an invariant does not hold.

    .venv/bin/python bench/faults.py [--outage-seconds 10] [--system-cluster]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from load_mix import (
    DEMO_PASSWORD,
    ROOT,
    api_token,
    build_demo,
    flask,
    session_cookie,
)
from search import free_port, start_gunicorn, stop_gunicorn, workers_of

PG_MAJOR = 15
PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
PG_PORT = int(os.environ.get("FAULTS_PG_PORT", "5439"))
MAKERS = 16
PROVIDER = "provider@outletpool.demo"


# ------------------------------------------------------------------ the database under test

class OwnCluster:
    """A throwaway PostgreSQL instance: initdb, start, stop, start again, remove."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="outletpool-faults-pg-"))
        self.data = self.dir / "data"
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                           "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        self.admin_url = f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres"
        self.url = f"postgresql://postgres@127.0.0.1:{PG_PORT}/outletpool_faults"

    def _as_postgres(self, command: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                       capture_output=True, cwd=self.dir)

    def start(self) -> None:
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                           str(self.dir / "server.log"), "-o",
                           f"-p {PG_PORT} -k {self.dir} -c listen_addresses=127.0.0.1 "
                           "-c max_connections=200 -c fsync=on", "start"])

    def stop(self) -> None:
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop"])

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE outletpool_faults")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SystemCluster:
    """The machine's own cluster (pg_ctlcluster 15 main): a scratch database on it."""

    def __init__(self):
        from search import postgres_url

        self.url = postgres_url()

    def start(self) -> None:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", str(PG_MAJOR), "main", "start"],
                       check=False, capture_output=True)

    def stop(self) -> None:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", str(PG_MAJOR), "main", "stop",
                        "-m", "fast"], check=True, capture_output=True)

    def create_database(self) -> None:
        pass

    def remove(self) -> None:
        from search import drop_postgres

        self.start()  # whatever happened, the shared server is left running
        time.sleep(2)
        drop_postgres(self.url)


# ------------------------------------------------------------------ HTTP with retries

class Client:
    def __init__(self, port: int):
        self.port = port
        self.broken = 0  # connections cut by a killed worker

    def call(self, method: str, path: str, *, token: str | None = None, body=None,
             retries: int = 6) -> tuple[int, dict | str]:
        headers = {"Accept-Language": "en"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        for attempt in range(retries):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                try:
                    return response.status, json.loads(raw)
                except ValueError:
                    return response.status, raw.decode(errors="replace")
            except (OSError, http.client.HTTPException):
                self.broken += 1
                time.sleep(0.1 * (attempt + 1))
            finally:
                conn.close()
        return 0, "no answer after retries"


def _age_seconds(pid: int) -> float:
    """How long a process has been running (from /proc), to leave booting workers alone."""
    start_ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


class Killer:
    """SIGKILL a random serving gunicorn worker every 0.5-1.5 s. A worker counts as serving once
    it has been up `min_age` seconds: at least 2, or longer where the machine boots one slower
    (a worker killed before it is up serves nothing, and the scenario would stall)."""

    def __init__(self, master: int, min_age: float = 2.0):
        self.master, self.kills, self.min_age = master, 0, max(2.0, min_age)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = random.Random(7)
        while not self.stop.wait(rng.uniform(0.5, 1.5)):
            try:
                workers = [w for w in workers_of(self.master) if _age_seconds(w) >= self.min_age]
                if workers:
                    os.kill(rng.choice(workers), signal.SIGKILL)
                    self.kills += 1
            except (ProcessLookupError, FileNotFoundError):
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


# ------------------------------------------------------------------ the scenario

def make_makers(url: str, count: int) -> list[dict]:
    """Verified manufacturers with an owner and an API token each (service calls, one commit)."""
    os.environ["OUTLETPOOL_ENV"] = "development"
    from app import create_app
    from app.extensions import db
    from services import accounts, organizations
    from services.audit import Actor
    from services.credit_code import make as make_credit_code

    app = create_app("development", SQLALCHEMY_DATABASE_URI=url)
    makers = []
    with app.app_context():
        operator = accounts.create_operator("faults-operator@example.com", "faults operator password")
        for i in range(count):
            email = f"faults-maker{i}@example.com"
            organization, user = accounts.signup(
                {"kind": "manufacturer", "legal_name": f"故障测试汽车{i}有限公司",
                 "english_name": f"Faults Motors {i}",
                 "credit_code": make_credit_code(f"91440300{880000000 + i:09d}"),
                 "address": "广东省深圳市南山区科技园1号"},
                {"email": email, "password": DEMO_PASSWORD, "name": f"Maker {i}"})
            organizations.set_verification(Actor(user=operator), organization.id, "verified")
            token = accounts.create_token(user, "faults")[1]
            makers.append({"organization_id": organization.id, "email": email, "token": token})
        db.session.commit()
        db.engine.dispose()
    return makers


def provider_offers(url: str) -> list[dict]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT o.id, co.capacity_t_per_year, co.min_term_months, co.capacity_t_per_year - "
            "COALESCE((SELECT SUM(a.tonnes_per_year) FROM allocations a WHERE a.outlet_id = o.id "
            "AND a.status IN ('pending', 'active')), 0) "
            "FROM outlets o JOIN capacity_offers co ON co.outlet_id = o.id "
            "JOIN memberships m ON m.organization_id = o.provider_id "
            "JOIN users u ON u.id = m.user_id WHERE u.email = %s AND o.status = 'listed' "
            "ORDER BY o.id", (PROVIDER,)).fetchall()
    return [{"outlet_id": r[0], "capacity": r[1], "min_term": r[2], "free": r[3]} for r in rows]


def acceptance_under_kills(client: Client, master: int, makers: list[dict], provider_token: str,
                           offers: list[dict], boot_seconds: float) -> dict:
    start = (date.today() + timedelta(days=7)).replace(day=1) + timedelta(days=31)
    start = start.replace(day=1)
    asks = []
    for offer in offers:
        share = round(offer["free"] * 2 / len(makers), 3)  # together twice what is free
        if share > 0.01:
            asks += [(maker, offer, share) for maker in makers]

    def ask(item):
        maker, offer, share = item
        return client.call("POST", "/api/v1/capacity-requests", token=maker["token"], body={
            "outlet_id": offer["outlet_id"], "tonnes_per_year": share,
            "start_date": start.isoformat(), "term_months": max(12, offer["min_term"]),
            "form": "shared_use"})

    outcomes: Counter = Counter()
    asked: Counter = Counter()
    with Killer(master, boot_seconds) as killer, ThreadPoolExecutor(max_workers=8) as pool:
        created = []
        for status, body in pool.map(ask, asks):
            asked[status] += 1
            if status == 201:
                created.append(body["id"])
        for status, _ in pool.map(lambda rid: client.call(
                "POST", f"/api/v1/capacity-requests/{rid}/accept", token=provider_token), created):
            outcomes[status] += 1
        accept_kills = killer.kills
    # Sign every version awaiting signatures: the provider and each maker, under the killer.
    tokens = {m["organization_id"]: m["token"] for m in makers}
    signatures: Counter = Counter()
    agreements, page = [], 1
    while True:  # the list comes a page at a time
        status, listing = client.call("GET", f"/api/v1/agreements?per_page=200&page={page}",
                                      token=provider_token)
        items = listing.get("items", []) if isinstance(listing, dict) else []
        agreements += items
        if not items or len(agreements) >= listing.get("total", 0):
            break
        page += 1
    with Killer(master, boot_seconds) as killer:
        for agreement in agreements:
            status, detail = client.call("GET", f"/api/v1/agreements/{agreement['id']}", token=provider_token)
            if status != 200 or not detail.get("awaiting"):
                continue
            signers = [tokens.get(p["organization_id"], provider_token if p["role"] == "provider" else None)
                       for p in detail["awaiting"]]
            for token in filter(None, signers):
                status, _ = client.call("POST", f"/api/v1/agreements/{agreement['id']}/signatures",
                                        token=token, body={"password": DEMO_PASSWORD,
                                                           "document_sha256": detail["document_sha256"]})
                signatures[status] += 1
        sign_kills = killer.kills
    return {"requests": len(created), "asked": dict(asked), "accept_outcomes": dict(outcomes),
            "accept_kills": accept_kills, "signatures": dict(signatures),
            "sign_kills": sign_kills, "broken": client.broken}


def tick_under_kills(url: str, instance: str, now: str, kills: int = 3) -> dict:
    """Start `flask tick`, wait until it holds its advisory lock (it is inside the jobs) and is
    writing invoices, SIGKILL it at a random moment; `kills` times, then run it to the end
    twice (the second run must find nothing left to do)."""
    import psycopg

    from services.tick import LOCK_KEY

    env = {**os.environ, "DATABASE_URL": url, "OUTLETPOOL_ENV": "development",
           "OUTLETPOOL_INSTANCE": instance, "FLASK_APP": "wsgi"}
    rng = random.Random(11)
    killed = []
    with psycopg.connect(url, autocommit=True) as watch:
        for _ in range(kills):
            process = subprocess.Popen([str(ROOT / ".venv/bin/flask"), "tick", "--now", now], cwd=ROOT,
                                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            backend = None
            while process.poll() is None and backend is None:
                backend = watch.execute(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted",
                    (LOCK_KEY,)).fetchone()
                time.sleep(0.01)
            if backend is None:
                killed.append("finished before it could be killed")
                continue
            # Wait until it is writing invoices (its last statement names them), then a
            # random moment later, up to 50 ms, kill it.
            deadline, doing = time.monotonic() + 15, None
            while process.poll() is None and time.monotonic() < deadline:
                doing = watch.execute(
                    "SELECT state, left(regexp_replace(query, '\\s+', ' ', 'g'), 60) "
                    "FROM pg_stat_activity WHERE pid = %s", (backend[0],)).fetchone()
                if doing and "invoice" in doing[1].lower() and rng.random() < 0.3:
                    break
                time.sleep(0.003)
            time.sleep(rng.uniform(0, 0.05))
            process.kill()
            process.wait()
            invoices = watch.execute("SELECT COUNT(*) FROM invoices").fetchone()[0]
            killed.append(f"SIGKILL while {doing[0] if doing else '?'}: {doing[1] if doing else '?'!r}"
                          f" -> invoices committed: {invoices}")
    final = subprocess.run([str(ROOT / ".venv/bin/flask"), "tick", "--now", now], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    again = subprocess.run([str(ROOT / ".venv/bin/flask"), "tick", "--now", now], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    return {"kills": killed, "final": final.stdout.strip()[-400:], "again": again.stdout.strip()[-400:]}


def outage(cluster, port: int, cookie: str, seconds: float) -> dict:
    """Stop the database for `seconds` while clients poll /healthz and view pages."""
    events: list[tuple[float, str, int]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def poll(path: str, headers: dict) -> None:
        while not stop.is_set():
            started = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", path, headers=headers)
                status = conn.getresponse().status
            except (OSError, http.client.HTTPException):
                status = 0
            finally:
                conn.close()
            with lock:
                events.append((started, path, status))
            time.sleep(0.05)

    threads = [threading.Thread(target=poll, args=("/healthz", {}), daemon=True)] + [
        threading.Thread(target=poll, args=(p, {"Cookie": cookie}), daemon=True)
        for p in ("/pool?city=440300", "/obligations", "/dashboard")]
    for t in threads:
        t.start()
    time.sleep(3)
    down_at = time.monotonic()
    cluster.stop()
    stopped_at = time.monotonic()
    time.sleep(seconds)
    up_at = time.monotonic()
    cluster.start()
    started_at = time.monotonic()
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join()

    def phase(at: float) -> str:
        if at < down_at:
            return "before"
        if stopped_at <= at < up_at:
            return "down"
        if at >= started_at:
            return "after"
        return "transition"

    table: dict[str, Counter] = {}
    for at, path, status in events:
        kind = "healthz" if path == "/healthz" else "pages"
        table.setdefault(f"{kind} {phase(at)}", Counter())[status] += 1
    after_ok = [at for at, _, status in events if at >= started_at and status == 200]
    first_ok = min(after_ok) - started_at if after_ok else None
    last_fail = max((at for at, _, s in events if at >= started_at and s != 200), default=None)
    return {"table": {k: dict(v) for k, v in sorted(table.items())},
            "stop_took": stopped_at - down_at, "start_took": started_at - up_at,
            "first_ok_after_start": first_ok,
            "last_failure_after_start": None if last_fail is None else last_fail - started_at}


def check_invariants(url: str, instance: str) -> list[tuple[str, bool, str]]:
    import psycopg

    checks = []
    with psycopg.connect(url) as conn:
        over = conn.execute(
            "SELECT a.outlet_id, co.capacity_t_per_year, SUM(a.tonnes_per_year) FROM allocations a "
            "JOIN capacity_offers co ON co.outlet_id = a.outlet_id WHERE a.status IN ('pending', 'active') "
            "GROUP BY a.outlet_id, co.capacity_t_per_year "
            "HAVING SUM(a.tonnes_per_year) > co.capacity_t_per_year + 0.0005").fetchall()
        held = conn.execute("SELECT COUNT(*), COUNT(DISTINCT outlet_id) FROM allocations "
                            "WHERE status IN ('pending', 'active')").fetchone()
        checks.append(("capacity never overbooked", not over,
                       f"{held[0]} pending/active allocations at {held[1]} outlets"
                       + (f"; OVERBOOKED {over}" if over else "")))
        unbalanced = conn.execute("SELECT transaction_id, SUM(amount_fen) FROM ledger_entries "
                                  "GROUP BY transaction_id HAVING SUM(amount_fen) <> 0").fetchall()
        total = conn.execute("SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM ledger_entries").fetchone()
        checks.append(("ledger zero-sum", not unbalanced and total[1] == 0,
                       f"{total[0]} entries, sum {total[1]}"
                       + (f"; UNBALANCED {unbalanced[:5]}" if unbalanced else "")))
        bare = conn.execute("SELECT a.id FROM agreements a WHERE NOT EXISTS (SELECT 1 FROM "
                            "agreement_versions v WHERE v.agreement_id = a.id)").fetchall()
        count = conn.execute("SELECT COUNT(*) FROM agreements").fetchone()[0]
        checks.append(("every agreement has a version", not bare, f"{count} agreements"
                       + (f"; WITHOUT VERSION {bare}" if bare else "")))
        documented: dict[int, set] = {}
        for agreement_id, document in conn.execute("SELECT agreement_id, document FROM agreement_versions"):
            document = document if isinstance(document, dict) else json.loads(document)
            documented.setdefault(agreement_id, set()).update(
                a["allocation_id"] for a in document.get("allocations", []))
        missing = [a for a, ag in conn.execute(
            "SELECT id, agreement_id FROM allocations WHERE status IN ('pending', 'active')")
            if a not in documented.get(ag, set())]
        checks.append(("every pending/active allocation is in a version document", not missing,
                       f"missing {missing}" if missing else "all documented"))
        orphans = conn.execute("SELECT r.id FROM capacity_requests r WHERE r.status = 'accepted' AND NOT "
                               "EXISTS (SELECT 1 FROM allocations a WHERE a.request_id = r.id)").fetchall()
        accepted = conn.execute(
            "SELECT COUNT(*) FROM capacity_requests WHERE status = 'accepted'").fetchone()[0]
        checks.append(("every accepted request has its allocation", not orphans,
                       f"{accepted} accepted" + (f"; ORPHANS {orphans}" if orphans else "")))
        invoices = conn.execute("SELECT COUNT(*) FROM invoices").fetchone()[0]
        lineless = conn.execute("SELECT i.id FROM invoices i WHERE NOT EXISTS (SELECT 1 FROM invoice_lines l "
                                "WHERE l.invoice_id = i.id)").fetchall()
        unposted = conn.execute(
            "SELECT i.id FROM invoices i WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t "
            "WHERE t.invoice_id = i.id AND t.kind = 'invoice')").fetchall()
        mismatched = conn.execute(
            "SELECT i.id FROM invoices i WHERE i.net_fen <> (SELECT COALESCE(SUM(net_fen), 0) FROM "
            "invoice_lines l WHERE l.invoice_id = i.id)").fetchall()
        gaps = conn.execute("SELECT issuer_id, COUNT(*), MAX(sequence) FROM invoices GROUP BY issuer_id "
                            "HAVING COUNT(*) <> MAX(sequence) OR MIN(sequence) <> 1").fetchall()
        checks.append(("every invoice whole (lines, ledger, gapless numbers)",
                       not (lineless or unposted or mismatched or gaps),
                       f"{invoices} invoices" + "".join(
                           f"; {label} {rows}" for label, rows in (("NO LINES", lineless),
                           ("NOT POSTED", unposted), ("NET != LINES", mismatched), ("GAPS", gaps)) if rows)))
    try:
        verified = flask(url, instance, "audit", "verify").strip()
    except RuntimeError as error:
        verified = str(error).strip()
    checks.append(("audit chain intact (flask audit verify)", "intact" in verified, verified))
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage-seconds", type=float, default=10)
    parser.add_argument("--system-cluster", action="store_true",
                        help="stop and start the machine's own cluster (pg_ctlcluster 15 main)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up (stop our PostgreSQL) on TERM
    cluster = SystemCluster() if args.system_cluster else OwnCluster()
    instance = tempfile.mkdtemp(prefix="bench-faults-instance-")
    log = Path(instance) / "gunicorn.log"
    server = None
    failed = False
    try:
        if isinstance(cluster, OwnCluster):
            cluster.start()
        cluster.create_database()
        url = cluster.url
        print(f"database: {url.rsplit('@', 1)[1]}; demo data {build_demo(url, instance):.0f} s")
        makers = make_makers(url, MAKERS)
        port = free_port()
        booting = time.perf_counter()
        server = start_gunicorn(url, port, instance, log=log)
        boot_seconds = time.perf_counter() - booting  # the server, its workers up and answering
        client = Client(port)
        provider_token = api_token(port, PROVIDER)
        offers = provider_offers(url)

        print("\n1. contract acceptance and signatures while workers are SIGKILLed")
        print(f"   gunicorn up in {boot_seconds:.1f} s: workers up {max(2.0, boot_seconds):.1f} s "
              f"or more are the ones killed")
        accepted = acceptance_under_kills(client, server.pid, makers, provider_token, offers,
                                          boot_seconds)
        print(f"   requests at {len(offers)} outlets: answers {accepted['asked']}; accept answers "
              f"{accepted['accept_outcomes']} (0 = no answer after retries) with "
              f"{accepted['accept_kills']} workers killed; signatures {accepted['signatures']} with "
              f"{accepted['sign_kills']} killed; {accepted['broken']} connections cut and retried")

        print("\n2. invoice generation: tick SIGKILLed three times, then run to the end")
        quarter = date.today().replace(day=1) + timedelta(days=200)
        ticked = tick_under_kills(url, instance, f"{quarter.isoformat()}T02:00:00+00:00")
        print("   " + "\n   ".join(ticked["kills"]))
        print(f"   final: {ticked['final']}\n   again: {ticked['again']}")

        print(f"\n3. PostgreSQL stopped for {args.outage_seconds:.0f} s under load")
        cookie = session_cookie(port)
        down = outage(cluster, port, cookie, args.outage_seconds)
        for phase, counts in down["table"].items():
            print(f"   {phase:<20} {counts}")
        print(f"   stop took {down['stop_took']:.1f} s, start {down['start_took']:.1f} s; first 200 "
              f"{down['first_ok_after_start']:.2f} s after the start; last failure after the start: "
              + ("none" if down["last_failure_after_start"] is None
                 else f"{down['last_failure_after_start']:.2f} s"))
        healthz_down = down["table"].get("healthz down", {})
        pages_after = down["table"].get("pages after", {})
        recovered = client.call("GET", "/api/v1/outlets?city=440300")[0] == 200

        print("\n4. invariants")
        checks = check_invariants(url, instance)
        checks.append(("/healthz said 503 while the database was down",
                       set(healthz_down) == {503}, f"{healthz_down}"))
        pages_down = down["table"].get("pages down", {})
        checks.append(("pages said 503 (not 500) while the database was down",
                       set(pages_down) == {503}, f"{pages_down}"))
        checks.append(("the app recovered by itself", recovered and pages_after.get(200, 0) > 0
                       and (down["last_failure_after_start"] or 0) < 5,
                       f"pages after the restart {pages_after}"))
        for name, ok, detail in checks:
            print(f"   [{'ok' if ok else 'FAIL'}] {name}: {detail}")
            failed |= not ok
        text = log.read_text(errors="replace") if log.exists() else ""
        errors = Counter(line.split(":", 1)[0] for line in text.splitlines()
                         if line[:1].isalpha() and ("Error:" in line or "Exception:" in line))
        print(f"\n   gunicorn log: {text.count('Traceback')} tracebacks; exceptions {dict(errors)}; {log}")
    finally:
        if server is not None:
            stop_gunicorn(server)
        cluster.remove()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
