"""How fast free-text addresses resolve to divisions (bulk imports depend on it).

Prints the median of several runs over 10,000 real-looking addresses, and the ratio to a
plain dict lookup per address measured in the same run.
    .venv/bin/python bench/address_resolution.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.divisions import DivisionIndex, read_csv


def main(runs: int = 7) -> None:
    rows = read_csv()
    by_code = {r["code"]: r for r in rows}
    districts = [r for r in rows if r["level"] == "district"][:2000]
    addresses = [by_code[d["province_code"]]["name"] + by_code[d["prefecture_code"]]["name"]
                 + d["name"] + "人民路1号" for d in districts] * 5
    started = time.perf_counter()
    index = DivisionIndex(rows)
    build = time.perf_counter() - started
    baseline_map = {a: i for i, a in enumerate(addresses)}
    timings, baseline = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        resolved = [index.resolve(a) for a in addresses]
        timings.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for a in addresses:
            baseline_map.get(a)
        baseline.append(time.perf_counter() - t0)
    unresolved = sum(r is None for r in resolved)
    median = statistics.median(timings)
    print(f"index build: {build * 1000:.1f} ms over {len(rows)} divisions")
    print(f"resolve {len(addresses)} addresses: median {median * 1000:.1f} ms "
          f"({len(addresses) / median:,.0f}/s), unresolved {unresolved}")
    print(f"ratio to a dict lookup per address: {median / statistics.median(baseline):.0f}x")


if __name__ == "__main__":
    main()
