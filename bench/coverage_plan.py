"""Coverage planner on a synthetic national instance: one maker, ~330 cities, ~30 candidates each.

Run: .venv/bin/python bench/coverage_plan.py [--runs 7] [--cities 330] [--per-city 30] [--radius KM]
Prints the median solve time, the gap and the greedy/optimal cost ratio over the runs
(each run a different seed). The instance is built with the pure planner only, no database.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.coverage_planner import Candidate, Demand, PlanOptions, plan


def instance(seed: int, cities: int, per_city: int):
    rng = random.Random(seed)
    demands, candidates = [], []
    next_id = 1
    for c in range(cities):
        code = f"{110100 + c * 100:06d}"
        lat, lon = rng.uniform(20, 45), rng.uniform(100, 122)
        tonnes = round(rng.lognormvariate(3.0, 1.0), 1)
        demands.append(Demand(code, "collection", tonnes, lat, lon))
        if rng.random() < 0.4:  # parc above the threshold
            demands.append(Demand(code, "centralized_storage", round(tonnes * 0.8, 1), lat, lon))
        for _ in range(per_city):
            kind = "collection" if rng.random() < 0.75 else "centralized_storage"
            cap = round(rng.uniform(0.3, 3.0) * tonnes, 1)
            candidates.append(Candidate(
                id=next_id, outlet_type=kind, city=code, capacity_t=cap,
                annual_fee_fen=rng.randrange(2_000_00, 30_000_00, 100),
                handling_fee_fen_per_t=rng.randrange(200_00, 1_200_00, 100),
                lat=lat + rng.uniform(-0.3, 0.3), lon=lon + rng.uniform(-0.3, 0.3),
                certified=rng.random() < 0.5, name=f"O{next_id}"))
            next_id += 1
    return demands, candidates


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cities", type=int, default=330)
    ap.add_argument("--per-city", type=int, default=30)
    ap.add_argument("--radius", type=float, default=None)
    ap.add_argument("--budget-share", type=float, default=None,
                    help="budget as a share of the unconstrained optimum (budget mode)")
    args = ap.parse_args()
    times, gaps, ratios, statuses = [], [], [], []
    for seed in range(args.runs):
        demands, candidates = instance(seed, args.cities, args.per_city)
        options = PlanOptions(service_radius_km=args.radius, transport_fen_per_t_km=150)
        if args.budget_share:
            base = plan(demands, candidates, options)
            options = PlanOptions(service_radius_km=args.radius, transport_fen_per_t_km=150,
                                  budget_fen=int(base.cost_fen * args.budget_share))
        t0 = time.perf_counter()
        result = plan(demands, candidates, options)
        elapsed = time.perf_counter() - t0
        times.append(elapsed)
        gaps.append(result.gap or 0.0)
        statuses.append(result.status)
        if result.cost_fen and result.greedy_cost_fen is not None:
            ratios.append(result.greedy_cost_fen / result.cost_fen)
        print(f"seed {seed}: {len(demands)} demands, {len(candidates)} outlets, "
              f"{result.model_size['arcs']} arcs, {result.status}, {elapsed:.3f} s, "
              f"gap {100 * (result.gap or 0):.3f} %, covered {result.covered} "
              f"(greedy {result.greedy_covered}), greedy/optimal "
              f"{(ratios[-1] if ratios else float('nan')):.4f}")
    print(f"median solve {statistics.median(times):.3f} s (max {max(times):.3f}), "
          f"median gap {100 * statistics.median(gaps):.3f} % (max {100 * max(gaps):.3f} %), "
          f"greedy/optimal median {statistics.median(ratios):.4f} "
          f"(min {min(ratios):.4f}, max {max(ratios):.4f}); statuses {sorted(set(statuses))}")


if __name__ == "__main__":
    main()
