"""Every maker's outlet filing on the national demo data, in every format.

Builds a fresh SQLite database (or DATABASE_URL given as --url) through the CLI (`setup`,
`seed-demo`: 10,257 outlets, ~150 makers), then contracts every demo outlet to a maker in bulk
(the demo pool has no agreements): each brand's dealer outlets to the manufacturer of the same
name, each utilization firm's outlets to a maker chosen at random, active from 2026-01-01 for
24 months. About three quarters of the outlets are not compliant, so they are left out with the
reason: the checks run over every one of them. Then it prints:
  1. the operator's run (services.filing_runs.execute: snapshot, joint filings, four formats,
     stored) over every maker, first run (creates ~10k joint filings) and a second one;
  2. in one pass over every maker: snapshot time and each format's rendering time, and the
     time openpyxl alone takes to write the same filed rows (plain write-only workbook) in the
     same pass, with the ratio of our XLSX to it.

    .venv/bin/python bench/filings.py [--url sqlite:///...] [--as-of 2026-06-30]

Figures, not assertions.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _cli(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    if result.exit_code != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.output}")
    return result.output


def contract_everything(start: date) -> int:
    """Bulk agreements, versions in force, requests and active allocations: one per outlet."""
    from sqlalchemy import insert, select

    from app.extensions import db
    from app.models import (
        Agreement,
        AgreementVersion,
        Allocation,
        CapacityRequest,
        Organization,
        OrgKind,
        Outlet,
        ProviderType,
    )

    rng = random.Random(8)
    makers = {name: i for i, name in db.session.execute(select(
        Organization.id, Organization.legal_name).where(Organization.kind == OrgKind.MANUFACTURER))}
    maker_ids = sorted(makers.values())
    brands = {i: name for i, name, t in db.session.execute(select(
        Organization.id, Organization.legal_name, Organization.provider_type).where(
        Organization.kind == OrgKind.PROVIDER)) if t is ProviderType.MANUFACTURER}
    now = datetime(2025, 12, 1, tzinfo=UTC)
    end = date(start.year + 2, start.month, start.day)
    outlets = db.session.execute(select(Outlet.id, Outlet.provider_id).order_by(Outlet.id)).all()
    from sqlalchemy import func

    base = max(db.session.execute(select(func.coalesce(func.max(m.id), 0))).scalar()
               for m in (Agreement, AgreementVersion, Allocation, CapacityRequest))
    taken = set(db.session.execute(select(Allocation.outlet_id)).scalars())
    outlets = [(o, p) for o, p in outlets if o not in taken]
    requests, agreements, versions, allocations = [], [], [], []
    for n, (outlet_id, provider_id) in enumerate(outlets, start=base + 1):
        maker_id = makers.get(brands.get(provider_id, "")) or rng.choice(maker_ids)
        requests.append({"id": n, "outlet_id": outlet_id, "manufacturer_id": maker_id,
                         "provider_id": provider_id, "status": "accepted", "form": "co_built",
                         "tonnes_per_year": 10.0, "start_date": start, "term_months": 24,
                         "annual_fee_fen": 100000, "handling_fee_fen_per_t": 1000,
                         "respond_by": now, "last_action_at": now, "created_at": now})
        agreements.append({"id": n, "number": f"OP-AG-2025-{n:06d}", "outlet_id": outlet_id,
                           "provider_id": provider_id, "status": "active", "created_at": now,
                           "updated_at": now})
        versions.append({"id": n, "agreement_id": n, "version": 1, "status": "in_force",
                         "reason": "initial", "document": {"allocations": [{"allocation_id": n}]},
                         "document_sha256": "0" * 64, "sign_by": now, "in_force_at": now,
                         "created_at": now})
        allocations.append({"id": n, "agreement_id": n, "outlet_id": outlet_id,
                            "manufacturer_id": maker_id, "request_id": n, "status": "active",
                            "form": "co_built", "tonnes_per_year": 10.0, "annual_fee_fen": 100000,
                            "handling_fee_fen_per_t": 1000, "term_months": 24, "start_date": start,
                            "end_date": end, "ends_on": end, "activated_at": now, "created_at": now})
    for model, rows in ((CapacityRequest, requests), (Agreement, agreements),
                        (AgreementVersion, versions), (Allocation, allocations)):
        for i in range(0, len(rows), 2000):
            db.session.execute(insert(model), rows[i:i + 2000])
    db.session.commit()
    return len(outlets)


def openpyxl_alone(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("rows")
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None)
    parser.add_argument("--as-of", default="2026-06-30")
    args = parser.parse_args()
    os.environ["OUTLETPOOL_ENV"] = "testing"
    from sqlalchemy import func, select

    from app import create_app
    from app.extensions import db
    from app.models import Filing, JointFiling, Organization
    from services import filing_runs, filings
    from services.audit import Actor

    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/bench-filings.db"
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    as_of = date.fromisoformat(args.as_of)
    with app.app_context():
        _cli(app, "setup")
        _cli(app, "seed-demo")
        outlets = contract_everything(date(2026, 1, 1))
        operator = Actor(label="filing-run")
        print(f"database: {db.engine.dialect.name}; outlets contracted: {outlets}")
        for label in ("first run (creates joint filings)", "second run"):
            from app.models import FilingRun, RunStatus

            run = FilingRun(as_of=as_of, status=RunStatus.QUEUED, total=0, done=0, mode="inline")
            db.session.add(run)
            db.session.commit()
            started = time.perf_counter()
            run = filing_runs.execute(run.id, db.session.commit)
            elapsed = time.perf_counter() - started
            rows = db.session.execute(select(func.sum(Filing.row_count), func.sum(Filing.flagged_count))
                                      .where(Filing.run_id == run.id)).one()
            print(f"{label}: {run.done} makers, {rows[0]} rows filed + {rows[1]} left out, "
                  f"{elapsed:.1f} s ({run.status.value})")
        print(f"joint filings: {db.session.execute(select(func.count(JointFiling.id))).scalar()}")

        timings = {k: 0.0 for k in ("snapshot", "xlsx", "csv", "pdf", "json", "openpyxl_alone")}
        makers = filing_runs.makers()
        total_rows = 0
        for maker_id in makers:
            maker = db.session.get(Organization, maker_id)
            started = time.perf_counter()
            snapshot = filings.snapshot_for(maker, as_of)
            timings["snapshot"] += time.perf_counter() - started
            for fmt in ("xlsx", "csv", "pdf", "json"):
                started = time.perf_counter()
                filings.render(fmt, snapshot)
                timings[fmt] += time.perf_counter() - started
            keys = [c["key"] for c in filings.layout()["columns"]]
            # the same cells our workbook holds: filed rows, and the left-out rows (their sheet)
            plain = [[c["header"] for c in filings.layout()["columns"]]] + [
                [r["values"].get(k) for k in keys] for r in snapshot["rows"] + snapshot["flagged"]]
            total_rows += len(snapshot["rows"]) + len(snapshot["flagged"])
            started = time.perf_counter()
            openpyxl_alone(plain)
            timings["openpyxl_alone"] += time.perf_counter() - started
        db.session.rollback()
        del operator
        print(f"one pass over {len(makers)} makers, {total_rows} rows (filed and left out):")
        for key, value in timings.items():
            print(f"  {key:>15}: {value:6.2f} s")
        formats = sum(timings[k] for k in ("xlsx", "csv", "pdf", "json"))
        print(f"  all formats + snapshot: {formats + timings['snapshot']:.2f} s")
        print(f"  XLSX / openpyxl alone (same rows, same run): "
              f"{timings['xlsx'] / timings['openpyxl_alone']:.2f}")


if __name__ == "__main__":
    main()
