"""expert-teams: the operator's and partner developer's command line.

expert-teams stack                      run the embedded stack until Ctrl-C (logs on the console)
expert-teams demo                       start the stack, play the demo scenario, print what happened
expert-teams send ...                   send one CloudEvent as a given source
expert-teams follow ORDER_ID            the events of one order across all topics, in time order
expert-teams dead-letters list|show     what the services could not process, and why
expert-teams figures [--experts FILE]   the bureau's figures, and the record per expert for HR systems
expert-teams topics ensure|list         create/correct the topics (partitions, replication, retention)
expert-teams partners add|list|revoke   onboard a partner system: principal, SCRAM credentials, ACLs
expert-teams acls sync|list             the services' ACLs, from their subscriptions and the registry
expert-teams operators bootstrap|show   the principals that run the programme: provisioner, operator, health
expert-teams contract generate|check    the published JSON Schemas and AsyncAPI document
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

from shared.logging import configure_logging
from tools.cli import operators, partners
from tools.cli.connection import Connection, resolve
from tools.stack.operators import PROVISIONER


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        raise SystemExit(2)
    configure_logging("cli", fmt="console" if sys.stderr.isatty() else "json", level=args.log_level)
    if logging.getLogger().getEffectiveLevel() > logging.INFO:  # the one line below says it; not each retry
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        args.func(args)
    except (KafkaError, OSError, TimeoutError) as exc:
        where = getattr(args, "bootstrap", None) or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "the stack's broker"
        waited = getattr(args, "timeout", None)
        within = f" within {waited:g} s" if waited is not None else ""
        print(
            f"expert-teams: the Kafka broker at {where} did not answer{within} ({type(exc).__name__}: {exc}); "
            "is it running? (`expert-teams stack` starts the embedded one)",
            file=sys.stderr,
        )
        raise SystemExit(3) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="expert-teams", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log-level", default="WARNING", help="log level of the CLI itself (default WARNING)")
    sub = parser.add_subparsers(dest="command")

    def connection_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: env or the running embedded stack)")
        p.add_argument("--topic-prefix", help="topic prefix of the environment (default: env or stack)")
        p.add_argument(
            "--timeout", type=float, default=10.0, help="seconds to wait for the broker before giving up (default 10)"
        )

    p = sub.add_parser("stack", help="run the embedded stack until Ctrl-C")
    p.add_argument("--services", default=None, help="comma-separated services to run (default: all)")
    p.add_argument(
        "--tls",
        action="store_true",
        help="the broker's listener is SASL_SSL (its certificate signed by the stack's CA)",
    )
    p.set_defaults(func=_cmd_stack)

    p = sub.add_parser(
        "demo",
        help="start the stack, play the programme for a year, print the report",
        description="Plays the seeded programme at the article's scale (45 orders, 300+ experts, 45 teams) "
        "through the four services; --story plays the same programme at 4 orders and shows every event.",
    )
    p.add_argument("--story", action="store_true", help="the programme at 4 orders, every event and its answer shown")
    p.add_argument("--orders", type=int, default=45, help="orders in the seeded programme (default 45)")
    p.add_argument("--seed", type=int, default=2019, help="seed of the generator (same seed, same programme)")
    p.add_argument("--keep-running", action="store_true", help="leave the stack running after the scenario")
    p.add_argument("--report", type=Path, default=None, help="also write the final report as JSON here")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "send",
        help="send one CloudEvent",
        description="Send one CloudEvent, either a whole structured-mode JSON document (--file) or built "
        "from flags. The topic follows from the event type unless --topic is given. Events to an inbound "
        "topic are signed with the source's key: --signing-key, or on the embedded stack the stack's own "
        "key of the source (made and registered on first use).",
    )
    connection_args(p)
    p.add_argument("--file", type=Path, help="a structured-mode CloudEvent JSON document")
    p.add_argument("--type", help="event type, e.g. DemandSubmitted")
    p.add_argument("--source", help="the sending system, e.g. /counties/500240")
    p.add_argument("--subject", help="business key (default: taken from the data)")
    p.add_argument("--data", help="the event's data as JSON")
    p.add_argument("--data-file", type=Path, help="the event's data from a JSON file")
    p.add_argument("--id", help="event id (default: a new UUID)")
    p.add_argument("--correlation-id", help="correlation id (default: the event id)")
    p.add_argument("--topic", help="send to this topic instead of the type's topic")
    p.add_argument("--binary", action="store_true", help="binary content mode (ce_* headers) instead of structured")
    p.add_argument("--signing-key", type=Path, help="the source's Ed25519 private key (PEM) to sign the event with")
    p.set_defaults(func=_cmd_send)

    p = sub.add_parser(
        "figures",
        help="the bureau's figures: projects and money by county and budget year, deep-poverty coverage, "
        "indicators against targets, service days; --experts writes the record per expert",
    )
    connection_args(p)
    p.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    p.add_argument(
        "--experts", type=Path, help="write the record per expert (JSON lines) for the title and talent systems"
    )
    p.add_argument("--idle", type=float, default=0.5, help="seconds without a new record that end the reading")
    p.set_defaults(func=_cmd_figures)

    p = sub.add_parser("follow", help="the events of one order (or any business key) across topics")
    connection_args(p)
    p.add_argument("key", help="order id or other business key (subject)")
    p.add_argument("--json", action="store_true", help="print JSON lines (for auditors and scripts)")
    p.add_argument("--tail", action="store_true", help="keep following new events until Ctrl-C")
    p.add_argument(
        "--idle",
        type=float,
        default=0.5,
        help="after reading every topic to its end, seconds without new records that end the read",
    )
    p.add_argument("--export", type=Path, help="write the history as one JSON document (for auditors) to this file")
    p.set_defaults(func=_cmd_follow)

    p = sub.add_parser("dead-letters", help="list or show dead letters")
    dl = p.add_subparsers(dest="action", required=True)
    q = dl.add_parser("list", help="list dead letters with their reasons")
    connection_args(q)
    q.add_argument("--service", help="only this service's dead letters")
    q.add_argument("--json", action="store_true")
    q.add_argument("--idle", type=float, default=0.5)
    q.set_defaults(func=_cmd_dead_letters_list)
    q = dl.add_parser("show", help="show one dead letter: origin, reason, headers and original bytes")
    connection_args(q)
    q.add_argument("ref", help="TOPIC:PARTITION:OFFSET of the dead letter, as `list` prints it")
    q.add_argument("--json", action="store_true", help="one JSON document (headers, key and original value in it)")
    q.add_argument("--idle", type=float, default=0.5)
    q.set_defaults(func=_cmd_dead_letters_show)
    q = dl.add_parser(
        "replay",
        help="send a dead letter back to its origin topic once its cause is fixed",
        description="Re-sends the original key, bytes and headers (dlt.* removed) to the topic it came from, with "
        "the operator's signed replay marker (replay.*). The service judges the event as it first arrived and tries "
        "it again if it refused it; one it applied stays a no-op. A marker not signed by the operator is ignored.",
    )
    connection_args(q)
    q.add_argument("ref", help="TOPIC:PARTITION:OFFSET of the dead letter")
    q.add_argument("--operator-key", type=Path, help="the operator's signing key (default as for `partners`)")
    q.add_argument("--idle", type=float, default=0.5)
    q.set_defaults(func=_cmd_dead_letters_replay)

    p = sub.add_parser("topics", help="create or list the programme's topics")
    tp = p.add_subparsers(dest="action", required=True)
    q = tp.add_parser(
        "ensure",
        help="create missing topics, report drift (partitions, replication, min ISR, retention) and fix it",
    )
    connection_args(q)
    q.add_argument("--partitions", type=int, help="per topic (default: KAFKA_PARTITIONS or 6)")
    q.add_argument("--replication-factor", type=int, help="default: KAFKA_REPLICATION_FACTOR or 1")
    q.add_argument("--min-insync-replicas", type=int, help="default: KAFKA_MIN_INSYNC_REPLICAS or 1")
    q.add_argument("--retention-ms", type=int, help="default: KAFKA_RETENTION_MS or -1 (forever)")
    q.add_argument("--check", action="store_true", help="report drift only; exit 1 if there is any")
    q.set_defaults(func=_cmd_topics_ensure)
    q = tp.add_parser("list", help="the topics and what they carry")
    q.add_argument("--json", action="store_true", help="one JSON line per topic")
    q.set_defaults(func=_cmd_topics_list)

    partners.add_parsers(sub, connection_args)
    operators.add_parsers(sub, connection_args)

    p = sub.add_parser("contract", help="the published event contract (JSON Schemas, AsyncAPI)")
    ct = p.add_subparsers(dest="action", required=True)
    ct.add_parser("generate", help="regenerate docs/contract from the code").set_defaults(func=_cmd_contract_generate)
    ct.add_parser("check", help="fail if docs/contract differs from the code").set_defaults(func=_cmd_contract_check)
    return parser


# ---- stack and demo -----------------------------------------------------------------------------


def _cmd_stack(args: argparse.Namespace) -> None:
    from tools.stack.launcher import RUNNABLE_SERVICES, Stack

    services = tuple(args.services.split(",")) if args.services else RUNNABLE_SERVICES
    configure_logging("stack", fmt="console" if sys.stderr.isatty() else "json", level="INFO")
    stack = Stack(services=services, logs_to_console=True, tls=args.tls)
    _stop_on_signals()
    try:
        stack.start()
        security = (
            f"{stack.kafka.security_protocol}, credentials in {stack.security.root}"
            if stack.kafka.sasl
            else "no authentication"
        )
        print(f"stack ready: Kafka at {stack.bootstrap_servers} ({security}); Ctrl-C stops everything", file=sys.stderr)
        while all(p.process.poll() is None for p in stack.processes.values()):
            time.sleep(0.5)
        print("a service exited; stopping the stack", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


def _cmd_demo(args: argparse.Namespace) -> None:
    from tools.scenario.demo import run_demo

    configure_logging("demo", fmt="console" if sys.stderr.isatty() else "json", level="WARNING")
    _stop_on_signals()
    raise SystemExit(
        run_demo(
            story=args.story,
            orders=args.orders,
            seed=args.seed,
            keep_running=args.keep_running,
            report_path=args.report,
        )
    )


def _stop_on_signals() -> None:
    """SIGINT and SIGTERM stop the stack cleanly, even where SIGINT was ignored by whoever started
    this process (a shell's background job inherits SIGINT ignored)."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)


# ---- send ---------------------------------------------------------------------------------------


def _cmd_send(args: argparse.Namespace) -> None:
    from tools.cli.send import build_envelope, send

    connection = resolve(args.bootstrap, args.topic_prefix, args.timeout)
    envelope = build_envelope(args)
    asyncio.run(send(connection, envelope, topic=args.topic, binary=args.binary, signing_key=args.signing_key))
    print(json.dumps({"sent": envelope.id, "type": envelope.type, "subject": envelope.subject}, ensure_ascii=False))


# ---- follow and dead letters --------------------------------------------------------------------


def _cmd_figures(args: argparse.Namespace) -> None:
    from tools.cli.inspect import bureau_figures

    connection = resolve(args.bootstrap, args.topic_prefix, args.timeout)
    figures = asyncio.run(bureau_figures(connection, idle_s=args.idle))
    if args.experts:
        records = figures.expert_records()
        args.experts.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        print(f"{len(records)} expert records written to {args.experts}", file=sys.stderr)
    if args.json:
        print(json.dumps(figures.as_dict(), ensure_ascii=False, indent=2))
    else:
        for line in figures.lines():
            print(line)


def _cmd_follow(args: argparse.Namespace) -> None:
    from tools.cli.inspect import export_history, follow

    connection = resolve(args.bootstrap, args.topic_prefix, args.timeout)
    if args.export:
        document = asyncio.run(export_history(connection, args.key, idle_s=args.idle))
        args.export.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
        print(json.dumps({"exported": str(args.export), "events": len(document["events"])}))
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow(connection, args.key, as_json=args.json, tail=args.tail, idle_s=args.idle))


def _cmd_dead_letters_list(args: argparse.Namespace) -> None:
    from tools.cli.inspect import list_dead_letters

    connection = resolve(args.bootstrap, args.topic_prefix, args.timeout)
    asyncio.run(list_dead_letters(connection, service=args.service, as_json=args.json, idle_s=args.idle))


def _cmd_dead_letters_show(args: argparse.Namespace) -> None:
    from tools.cli.inspect import show_dead_letter

    connection = resolve(args.bootstrap, args.topic_prefix, args.timeout)
    found = asyncio.run(show_dead_letter(connection, args.ref, idle_s=args.idle, as_json=args.json))
    if not found:
        raise SystemExit(f"no dead letter at {args.ref}")


def _cmd_dead_letters_replay(args: argparse.Namespace) -> None:
    from tools.cli.inspect import replay_dead_letter

    connection = resolve(args.bootstrap, args.topic_prefix, args.timeout)
    result = asyncio.run(replay_dead_letter(connection, args.ref, operator=partners.signer(args), idle_s=args.idle))
    if result is None:
        raise SystemExit(f"no dead letter at {args.ref}")
    print(json.dumps(result, ensure_ascii=False))


# ---- topics and contract ------------------------------------------------------------------------


def _cmd_topics_ensure(args: argparse.Namespace) -> None:
    from shared.messaging.kafka import ensure_topics
    from shared.messaging.topic_admin import describe
    from shared.settings import KafkaSettings
    from shared.topics import all_topics

    connection: Connection = resolve(args.bootstrap, args.topic_prefix, args.timeout, principal=PROVISIONER)
    overrides = {
        name: value
        for name, value in (
            ("partitions", args.partitions),
            ("replication_factor", args.replication_factor),
            ("min_insync_replicas", args.min_insync_replicas),
            ("retention_ms", args.retention_ms),
        )
        if value is not None
    }
    settings = KafkaSettings(
        bootstrap_servers=connection.bootstrap_servers, topic_prefix=connection.topic_prefix, **overrides
    )
    report = asyncio.run(
        ensure_topics(
            connection.kafka,
            all_topics(settings.partitions),
            prefix=connection.topic_prefix,
            settings=settings,
            fix=not args.check,
            connect_timeout_s=connection.timeout_s,
        )
    )
    for line in describe(report):
        print(line)
    if report.unfixable:
        raise SystemExit(1)


def _cmd_topics_list(args: argparse.Namespace) -> None:
    from shared.topics import SERVICES, all_topics, partner_topics

    partner = "<principal>"  # one partner's own topics, created when it is onboarded (`partners add`)
    for spec in [*all_topics(), *partner_topics(partner, SERVICES)]:
        if args.json:
            print(json.dumps({"topic": spec.name, "partitions": spec.partitions, "carries": spec.purpose}))
        else:
            print(f"{spec.name:24} {spec.partitions:3} partitions  {spec.purpose}")


def _definitions() -> Any:
    from services.catalog import DEFINITIONS

    return DEFINITIONS


def _cmd_contract_generate(args: argparse.Namespace) -> None:
    from tools.contract_documents import write

    for path in write(_definitions()):
        print(path)


def _cmd_contract_check(args: argparse.Namespace) -> None:
    from tools.contract_documents import differences

    problems = differences(_definitions())
    if problems:
        print("docs/contract differs from the code; run `expert-teams contract generate`:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(1)
    print("contract documents match the code")


if __name__ == "__main__":
    main()
