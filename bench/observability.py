"""What metrics and traces cost a service's throughput, measured in one run.

    .venv/bin/python -m bench.observability [--events 6000] [--only orders,funding]

For each service, the same workload as bench.services (N events written while it is down, then
drained by the service as its own process) is run four times on one stack, changing only the
service's environment:

    bare             METRICS_ENABLED=false, no tracing
    metrics          the default: Prometheus metrics on, no tracing
    metrics+traces   metrics on and OTEL_TRACES_EXPORTER=otlp, to an OTLP/HTTP receiver in this
                     process that decodes every request and counts the spans it received
    bare again       the first setting once more: how far the machine drifted during the run

Ratios are against the mean of the two bare runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.common import BENCH_DATA, write_result
from bench.services import WORKLOADS, Workload, drain, preload
from tools.stack.launcher import Stack

SETTINGS: dict[str, dict[str, str]] = {
    "bare": {"METRICS_ENABLED": "false", "OTEL_TRACES_EXPORTER": "none"},
    "metrics": {"METRICS_ENABLED": "true", "OTEL_TRACES_EXPORTER": "none"},
    "metrics+traces": {"METRICS_ENABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"},
    "bare again": {"METRICS_ENABLED": "false", "OTEL_TRACES_EXPORTER": "none"},
}


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
    try:
        return await drain(stack, workload, n, run)
    finally:
        stack.stop_service(workload.service)


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
    rates: dict[str, float] = {}
    spans: dict[str, int] = {}
    try:
        for name, env in SETTINGS.items():
            before = sink.spans
            rates[name] = asyncio.run(one_setting(stack, workload, n, env))
            spans[name] = sink.spans - before
    finally:
        stack.stop()
    bare = (rates["bare"] + rates["bare again"]) / 2
    return {
        "events": n,
        "events_per_s": {name: round(rate) for name, rate in rates.items()},
        "ratio_to_bare": {name: round(rate / bare, 3) for name, rate in rates.items()},
        "drift_between_bare_runs": round(abs(rates["bare"] - rates["bare again"]) / bare, 3),
        "spans_received": spans,
        "spans_per_event_with_traces": round(spans["metrics+traces"] / n, 2),
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
