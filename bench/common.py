"""Shared helpers for benchmarks: embedded infrastructure, percentiles, result files."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from tools.stack.embedded import DATA_DIR

BENCH_DATA = DATA_DIR / "bench"
"""Where the benchmarks' own stack keeps its data (cleared at every benchmark's start)."""

RESULTS = Path(__file__).resolve().parent / "results"


def percentiles(values_ms: list[float]) -> dict[str, float]:
    if not values_ms:
        return {"n": 0}
    ordered = sorted(values_ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(ordered),
        "p50": pick(0.50),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    result = {"benchmark": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **result}
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return path
