"""Obligations and coverage plans on the national demo data (setup + seed-demo).

For each database (a fresh SQLite file, and PostgreSQL when BENCH_PG_URL or the default local
server answers, as bench/search.py does) the script builds the full demo data through the CLI
(`setup`, then `seed-demo`: 10,257 outlets, ~150 makers with sales 2021-2025) and prints:
  1. obligations for all makers (services.obligations.compute_for, each maker once): median
     of --runs runs (target < 2 s);
  2. one maker's plan across all its cities, for the --largest makers by city count: median
     build (obligations + candidate query) and solve time, the gap, the status (target: gap
     <= 0.5 % in < 5 s), in-city and, with --radius, with a service radius;
  3. the exact plan's cost against the greedy baseline's over every maker whose greedy plan
     covers as many demands as the exact one: greedy/exact median, min, max.

    .venv/bin/python bench/obligations_and_plans.py [--runs 5] [--largest 5] [--radius 150]
        [--databases sqlite,postgresql] [--as-of 2026-06-30]

Figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _cli(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    if result.exit_code != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.output}")
    return result.output


def run_one(label: str, url: str, args) -> None:
    os.environ["OUTLETPOOL_ENV"] = "testing"
    from sqlalchemy import func, select

    from app import create_app
    from app.extensions import db
    from app.models import Organization, OrgKind, SalesRecord
    from services import coverage_plans, obligations
    from services.coverage_planner import PlanOptions, plan

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    as_of = date.fromisoformat(args.as_of)
    with app.app_context():
        started = time.perf_counter()
        _cli(app, "setup")
        setup_s = time.perf_counter() - started
        started = time.perf_counter()
        seeded = _cli(app, "seed-demo")
        seed_s = time.perf_counter() - started
        print(f"\n== {label}: setup {setup_s:.1f} s, seed-demo {seed_s:.1f} s")
        for line in seeded.splitlines():
            if line.startswith(("demo pool:", "demo sales:")):
                print(f"   {line}")
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")

        makers = list(db.session.execute(
            select(Organization).join(SalesRecord, SalesRecord.manufacturer_id == Organization.id)
            .where(Organization.kind == OrgKind.MANUFACTURER).group_by(Organization.id)
            .order_by(Organization.id)).unique().scalars())
        records = db.session.execute(select(func.count(SalesRecord.id))).scalar_one()

        # 1. Obligations for all makers.
        times, reports = [], {}
        for _ in range(args.runs):
            db.session.expire_all()
            t0 = time.perf_counter()
            for maker in makers:
                reports[maker.id] = obligations.compute_for(maker, as_of)
            times.append(time.perf_counter() - t0)
        cities = sum(len(r.cities) for r in reports.values())
        storage = sum(r.counts["centralized_storage_required"] for r in reports.values())
        print(f"1. obligations for all {len(makers)} makers ({records} sales records, {cities} "
              f"maker-cities, {storage} needing centralized storage; as of {as_of}, rule set "
              f"{next(iter(reports.values())).rule_set_code}): median {statistics.median(times):.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f}) over {args.runs} runs; target < 2 s")

        # 2. The largest makers' plans.
        largest = sorted(makers, key=lambda m: (-len(reports[m.id].cities), m.id))[:args.largest]
        variants = [("in-city", PlanOptions())]
        if args.radius:
            variants.append((f"radius {args.radius:g} km", PlanOptions(
                service_radius_km=args.radius, transport_fen_per_t_km=150)))
        for name, options in variants:
            print(f"2. largest makers' plans, {name} (time limit {options.time_limit_s:g} s, "
                  f"gap {100 * options.mip_rel_gap:g} %):")
            build_times, solve_times, gaps = [], [], []
            for maker in largest:
                t0 = time.perf_counter()
                instance = coverage_plans.build_instance(maker, as_of, options)
                build = time.perf_counter() - t0
                solves, result = [], None
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    result = plan(instance.demands, instance.candidates, options)
                    solves.append(time.perf_counter() - t0)
                build_times.append(build)
                solve_times.append(statistics.median(solves))
                gaps.append(result.gap or 0.0)
                ratio = (result.greedy_cost_fen / result.cost_fen
                         if result.cost_fen and result.greedy_cost_fen is not None
                         and result.greedy_covered == result.covered else float("nan"))
                print(f"   {maker.legal_name}: {len(reports[maker.id].cities)} cities, "
                      f"{len(instance.demands)} demands, {len(instance.candidates)} candidates, "
                      f"{result.model_size.get('arcs')} arcs; build {build:.3f} s, solve median "
                      f"{statistics.median(solves):.3f} s; {result.status}, gap "
                      f"{100 * (result.gap or 0):.3f} %; covered {result.covered}/{result.demands} "
                      f"(greedy {result.greedy_covered}); greedy/exact {ratio:.4f}")
            print(f"   median build {statistics.median(build_times):.3f} s, median solve "
                  f"{statistics.median(solve_times):.3f} s (max {max(solve_times):.3f}), median gap "
                  f"{100 * statistics.median(gaps):.3f} % (max {100 * max(gaps):.3f} %); "
                  f"target gap <= 0.5 % in < 5 s")

        # 3. Exact against greedy over all makers.
        for name, options in variants:
            ratios, unequal, empty, statuses = [], 0, 0, set()
            t0 = time.perf_counter()
            for maker in makers:
                instance = coverage_plans.build_instance(maker, as_of, options)
                result = plan(instance.demands, instance.candidates, options)
                statuses.add(result.status)
                if not result.cost_fen or result.greedy_cost_fen is None:
                    empty += 1
                elif result.greedy_covered != result.covered:
                    unequal += 1
                else:
                    ratios.append(result.greedy_cost_fen / result.cost_fen)
            elapsed = time.perf_counter() - t0
            if ratios:
                print(f"3. greedy/exact cost, {name}, over {len(ratios)} makers: median "
                      f"{statistics.median(ratios):.4f} (min {min(ratios):.4f}, max "
                      f"{max(ratios):.4f}); greedy strictly dearer for "
                      f"{sum(r > 1 + 1e-9 for r in ratios)}; left out: {unequal} where greedy "
                      f"covers fewer demands, {empty} with nothing to plan; statuses "
                      f"{sorted(statuses)}; all {len(makers)} plans in {elapsed:.1f} s")
            else:
                print(f"3. greedy/exact cost, {name}: no comparable makers")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--largest", type=int, default=5)
    parser.add_argument("--radius", type=float, default=150.0,
                        help="also plan with this service radius (km); 0 for in-city only")
    parser.add_argument("--as-of", default="2026-06-30")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    for database in args.databases.split(","):
        if database == "sqlite":
            path = Path(tempfile.mkdtemp(prefix="bench-")) / "bench.db"
            run_one("sqlite", f"sqlite:///{path}", args)
        elif database == "postgresql":
            from search import drop_postgres, postgres_url

            url = postgres_url()
            if url is None:
                continue
            try:
                run_one("postgresql", url, args)
            finally:
                drop_postgres(url)


if __name__ == "__main__":
    main()
