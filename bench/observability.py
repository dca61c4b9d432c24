"""What metrics and traces cost a service's throughput, measured in one run.

    .venv/bin/python -m bench.observability [--events 6000] [--only orders,funding]

For each service, the same workload as bench.services (N events written while it is down, then
drained by the service as its own process) is run on one stack, changing only the service's
environment between three settings:

    bare             METRICS_ENABLED=false, no tracing
    metrics          the default: Prometheus metrics on, no tracing
    metrics+traces   metrics on and OTEL_TRACES_EXPORTER=otlp, every trace sampled, to an OTLP/HTTP
                     receiver in this process that decodes every request and counts its spans
    metrics+traces 10%   the same with OTEL_TRACES_SAMPLER=traceidratio, 0.1: one trace in ten kept
                     (the decision follows the trace id, so every service keeps the same traces)

A first drain warms the stack up and is not counted; then the settings run in the order
A B C D D C B A, so that a machine slowing down or speeding up during the run weighs on each setting
alike. Each setting's figure is the mean of its two drains; ratios are against bare, and the
spread between a setting's two drains says how much to trust a difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.common import BENCH_DATA, write_result
from bench.services import WORKLOADS, Workload, preload
from tools.stack.launcher import Stack

SETTINGS: dict[str, dict[str, str]] = {
    "bare": {"METRICS_ENABLED": "false", "OTEL_TRACES_EXPORTER": "none"},
    "metrics": {"METRICS_ENABLED": "true", "OTEL_TRACES_EXPORTER": "none"},
    "metrics+traces": {"METRICS_ENABLED": "true", "OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "always_on"},
    "metrics+traces 10%": {
        "METRICS_ENABLED": "true",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    },
}
ORDER = (*SETTINGS, *reversed(SETTINGS))


class SpanSink:
    """An OTLP/HTTP (protobuf) trace receiver on loopback that counts what it is sent."""

    def __init__(self) -> None:
        self.spans = 0
        self.requests = 0
        self.bytes = 0
        self.lock = threading.Lock()
        sink = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = ExportTraceServiceRequest.FromString(body)
                with sink.lock:
                    sink.requests += 1
                    sink.bytes += len(body)
                    sink.spans += sum(
                        len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans
                    )
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receive)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> SpanSink:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()


async def one_setting(stack: Stack, workload: Workload, n: int, env: dict[str, str]) -> float:
    run = f"O{uuid.uuid4().hex[:6]}"
    await preload(stack, workload, n, run)
    stack.extra_env.update(env)
    conn = await asyncpg.connect(stack.database_url(workload.service))
    try:
        return await drain_measured_in_the_database(stack, workload, n, conn)
    finally:
        stack.stop_service(workload.service)
        await conn.close()


_OUTPUTS = """
SELECT count(*), extract(epoch FROM max(published_at) - min(published_at)) FROM outbox
WHERE seq > $1 AND event_type = $2 AND published_at IS NOT NULL
"""
_RECEIVED = """
SELECT count(*), extract(epoch FROM max(received_at) - min(received_at)) FROM inbox WHERE received_at > $1
"""


async def drain_measured_in_the_database(stack: Stack, workload: Workload, n: int, conn: Any) -> float:
    """Events/s between the first and the last of this drain's outputs, by the database's own
    clock: the outbox's `published_at` (the broker acknowledged it), or, for a service that emits
    nothing per event, the inbox's `received_at`. (Watching the topic instead would measure the
    watcher, which reads every earlier drain's outputs first and then this one's in a burst.)"""
    args: tuple[Any, ...]
    if workload.output:
        migrated = await conn.fetchval("SELECT to_regclass('outbox') IS NOT NULL")
        after = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM outbox") if migrated else 0
        query, args = _OUTPUTS, (after, workload.output)
    else:
        query, args = _RECEIVED, (await conn.fetchval("SELECT clock_timestamp()"),)
    stack.start_service(workload.service)
    stack.wait_ready(workload.service)
    while True:
        done, seconds = await conn.fetchrow(query, *args)
        if done >= n:
            return float(done - 1) / float(seconds)
        await asyncio.sleep(0.1)


def measure(workload: Workload, n: int, sink: SpanSink) -> dict[str, Any]:
    stack = Stack(
        services=(),
        data_dir=BENCH_DATA,
        fresh=True,
        extra_env={
            "POLICY_ANNUAL_ENVELOPE_FEN": str(10**12),
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
        },
    )
    stack.start()
    rates: dict[str, list[float]] = {name: [] for name in SETTINGS}
    spans: dict[str, int] = dict.fromkeys(SETTINGS, 0)
    try:
        warm_up = asyncio.run(one_setting(stack, workload, n, SETTINGS["bare"]))
        for name in ORDER:
            before = sink.spans
            rates[name].append(asyncio.run(one_setting(stack, workload, n, SETTINGS[name])))
            spans[name] += sink.spans - before
    finally:
        stack.stop()
    mean = {name: sum(runs) / len(runs) for name, runs in rates.items()}
    return {
        "events_per_drain": n,
        "warm_up_events_per_s": round(warm_up),
        "events_per_s": {name: round(rate) for name, rate in mean.items()},
        "drains": {name: [round(r) for r in runs] for name, runs in rates.items()},
        "ratio_to_bare": {name: round(rate / mean["bare"], 3) for name, rate in mean.items()},
        "spread_between_drains": {name: round((max(r) - min(r)) / mean[name], 3) for name, r in rates.items()},
        "spans_received": spans,
        "spans_per_event": {name: round(count / (2 * n), 2) for name, count in spans.items()},
    }


def main() -> None:
    from shared.logging import configure_logging

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--only", default="orders,funding", help="comma-separated services")
    args = parser.parse_args()
    configure_logging("bench", fmt="console", level="WARNING")
    chosen = [w for w in WORKLOADS if w.service in args.only.split(",")]
    results: dict[str, Any] = {}
    with SpanSink() as sink:
        for workload in chosen:
            results[workload.service] = measure(workload, args.events, sink)
            print(f"{workload.service:9} {json.dumps(results[workload.service])}", flush=True)
    print(f"written to {write_result('observability', results)}")


if __name__ == "__main__":
    main()
