"""Every benchmark, one command; a table of the figures with their raw baselines, a JSON file
and a PNG plot.

    .venv/bin/python -m bench.run_all            # the sizes below (about 15 minutes on 2 cores)
    .venv/bin/python -m bench.run_all --full     # ×100 programme; rebuild from 1,000,000 events

Each benchmark runs as its own process on its own embedded stack; results/ keeps each one's
JSON, summary.json the whole, summary.png the plot.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import RESULTS, write_result

TARGETS = {
    "service_ratio": 0.5,
    "automatic_step_p99_idle_ms": 50.0,
    "automatic_step_p99_half_load_ms": 100.0,
    "replay_events_per_s": 20_000,
    "idle_memory_mib": 1024,
    "ready_s": 10.0,
}


def run(module: str, *args: str) -> None:
    print(f"\n=== {module} {' '.join(args)}", flush=True)
    completed = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], check=False)
    if completed.returncode != 0:
        print(f"!!! {module} failed with {completed.returncode}", flush=True)


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return data


def table(summary: dict[str, Any]) -> list[str]:
    lines = ["", f"{'figure':58} {'measured':>14} {'baseline / target':>22}", "-" * 96]

    def row(name: str, value: Any, reference: Any = "") -> None:
        lines.append(f"{name:58} {value!s:>14} {reference!s:>22}")

    for service, r in summary.get("services", {}).items():
        if isinstance(r, dict) and "service_events_per_s" in r:
            row(f"{service}: events/s (tuned loop)", r["service_events_per_s"], r.get("tuned_events_per_s", ""))
            row(f"{service}: events/s (naive loop)", r["service_events_per_s"], r.get("naive_events_per_s", ""))
            row(f"{service}: ratio service/tuned", r["ratio"], f"≥ {TARGETS['service_ratio']}")
            row(f"{service}: ratio service/naive", r.get("ratio_to_naive", ""))
            if "guaranteed_events_per_s" in r:
                row(
                    f"{service}: events/s (tuned + inbox, outbox, relay)",
                    r["service_events_per_s"],
                    r["guaranteed_events_per_s"],
                )
                row(f"{service}: ratio service/guaranteed", r["ratio_to_guaranteed"])
                row(f"{service}: ratio guaranteed loop/tuned (its ceiling)", r["guaranteed_ratio"])
            for key, value in r.items():
                if key.startswith("replicas_") and key.endswith("_events_per_s"):
                    replicas = key.split("_")[1]
                    row(f"{service}: events/s, {replicas} processes (tuned loop)", value, r["tuned_events_per_s"])
    for label, r in summary.get("latency", {}).items():
        if isinstance(r, dict) and "team_accepted_to_funding_released_ms" in r:
            f, v = r["team_accepted_to_funding_released_ms"], r["last_panel_score_to_review_graded_ms"]
            limit = TARGETS["automatic_step_p99_idle_ms" if label == "idle" else "automatic_step_p99_half_load_ms"]
            target = f"p99 < {limit:.0f}" + ("" if label == "idle" else f" at {r['background_events_per_s']:.0f}/s")
            row(f"TeamAccepted → FundingReleased ms p50/p95/p99 ({label})", f"{f['p50']}/{f['p95']}/{f['p99']}", target)
            row(f"last score → ReviewGraded ms p50/p95/p99 ({label})", f"{v['p50']}/{v['p95']}/{v['p99']}", target)
            for segment, q in r.get("team_accepted_to_funding_released_segments_ms", {}).items():
                row(f"  of which {segment.replace('_', ' ')} ms p50/p99 ({label})", f"{q['p50']}/{q['p99']}")
    for r in summary.get("programme", {}).get("scales", []):
        row(
            f"programme {r['orders']} orders: wall s / events/s",
            f"{r['wall_time_s']} / {r['events_per_s']}",
            f"growth ×{r.get('cost_growth_vs_smallest')}",
        )
        row(
            f"programme {r['orders']} orders: peak / idle memory MiB",
            f"{r['peak_memory_mib']} / {r['stack_idle_memory_mib']}",
            f"idle < {TARGETS['idle_memory_mib']}",
        )
        row(f"programme {r['orders']} orders: stack ready s", r["stack_ready_s"], f"< {TARGETS['ready_s']:.0f}")
        row(f"programme {r['orders']} orders: ms of wall time per order", r.get("ms_per_order", ""))
        if largest := r.get("largest_event"):
            row(f"programme {r['orders']} orders: largest event, bytes", largest["bytes"], largest["type"])
    replay = summary.get("replay", {})
    if replay:
        row(
            f"rebuild of orders, {replay['events']} events, {replay.get('consumers', 1)} procs: ev/s (raw read)",
            replay["events_per_s"],
            replay.get("raw_read_events_per_s", ""),
        )
        row(
            "rebuild of orders: events/s (tuned consume+COPY loop)",
            replay["events_per_s"],
            replay.get("tuned_events_per_s", ""),
        )
        if "guaranteed_events_per_s" in replay:
            row(
                "rebuild of orders: events/s (tuned loop + inbox claim)",
                replay["events_per_s"],
                replay["guaranteed_events_per_s"],
            )
        row("rebuild of orders: events/s target", replay["events_per_s"], f"≥ {TARGETS['replay_events_per_s']}")
    relay = summary.get("relay_latency", {})
    if relay:
        idle = relay["relay_latency_idle_ms"]
        row(
            "outbox relay latency ms p50/p99 (idle)",
            f"{idle['p50']}/{idle['p99']}",
            f"raw ack {relay['raw_producer']['send_and_wait_ms']['p50']}",
        )
        row(
            "outbox relay backlog drain rows/s",
            relay["relay_backlog_drain_rows_per_s"],
            relay["raw_producer"]["send_flush_msgs_per_s"],
        )
    fetch = summary.get("fetch_latency", {})
    if fetch:
        ours, faststream = fetch["prompt_fetch_ms"], fetch["faststream_fetch_ms"]
        row(
            "one consumer hop, ms p50/p99 (FastStream's fetch)",
            f"{ours['p50']}/{ours['p99']}",
            f"{faststream['p50']}/{faststream['p99']}",
        )
    for service, r in summary.get("observability", {}).items():
        if isinstance(r, dict) and "ratio_to_bare" in r:
            for setting, ratio in r["ratio_to_bare"].items():
                if setting != "bare":
                    rates = r["events_per_s"]
                    row(f"{service}: events/s with {setting} (bare)", rates[setting], rates["bare"])
                    row(f"{service}: ratio {setting} / bare", ratio, f"spread {r['spread_between_drains'][setting]}")
    matching = summary.get("matching", {})
    if matching:
        lines.append(f"matching: see {RESULTS / 'matching.json'}")
    return lines


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    services = {k: v for k, v in summary.get("services", {}).items() if isinstance(v, dict) and "ratio" in v}
    names = list(services)
    axes[0].bar([n + "\nservice" for n in names], [services[n]["service_events_per_s"] for n in names], color="#3b7")
    axes[0].bar([n + "\ntuned" for n in names], [services[n]["tuned_events_per_s"] for n in names], color="#999")
    guaranteed = [n for n in names if "guaranteed_events_per_s" in services[n]]
    axes[0].bar(
        [n + "\nguaranteed" for n in guaranteed],
        [services[n]["guaranteed_events_per_s"] for n in guaranteed],
        color="#ccc",
    )
    axes[0].set_title("events/s: service, tuned loop, guaranteed loop", fontsize=10)
    axes[0].tick_params(axis="x", labelsize=7, labelrotation=60)
    latency = summary.get("latency", {})
    labels, p50, p99 = [], [], []
    for label, r in latency.items():
        for step, key in (
            ("funding", "team_accepted_to_funding_released_ms"),
            ("review", "last_panel_score_to_review_graded_ms"),
        ):
            if isinstance(r, dict) and key in r:
                labels.append(f"{step}\n{label}")
                p50.append(r[key]["p50"])
                p99.append(r[key]["p99"])
    axes[1].bar(labels, p99, color="#e96", label="p99")
    axes[1].bar(labels, p50, color="#37b", label="p50")
    axes[1].axhline(TARGETS["automatic_step_p99_idle_ms"], color="red", linestyle="--", linewidth=1)
    axes[1].set_title("automatic steps, ms")
    axes[1].legend()
    scales = summary.get("programme", {}).get("scales", [])
    axes[2].set_title("programme: wall time (s) by orders")
    if scales:  # a redraw from results that have no programme run yet leaves this panel empty
        axes[2].plot([s["orders"] for s in scales], [s["wall_time_s"] for s in scales], marker="o")
        axes[2].set_xscale("log")
        axes[2].set_yscale("log")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the issue's full sizes (takes much longer)")
    parser.add_argument("--skip", default="", help="comma-separated benchmarks to skip")
    args = parser.parse_args()
    skip = set(args.skip.split(",")) if args.skip else set()
    plan = [
        ("services", ["--events", "20000"]),
        ("latency", ["--samples", "100", "--load", "half"]),
        ("programme", ["--scales", "45,450,4500" if args.full else "45,450"]),
        ("replay", ["--events", "1000000" if args.full else "100000", "--consumers", "2"]),
        ("relay_latency", ["--rows", "20000"]),
        ("fetch_latency", ["--samples", "150"]),
        ("matching", []),
        ("observability", ["--events", "6000" if args.full else "3000", "--only", "orders,funding"]),
        ("authentication", ["--events", "4000"]),
    ]
    for module, module_args in plan:
        if module not in skip:
            run(module, *module_args)
    summary = {name: load(name) for name, _ in plan}
    summary["targets"] = TARGETS
    for line in table(summary):
        print(line)
    path = write_result("summary", summary)
    png = RESULTS / "summary.png"
    plot(summary, png)
    print(f"\nwritten to {path} and {png}")


if __name__ == "__main__":
    main()
