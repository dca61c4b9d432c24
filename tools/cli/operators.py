"""`expert-teams operators bootstrap|show`: the principals that run the programme
(tools/stack/operators.py). `bootstrap` is run once per cluster by a super user (compose's
`operators` job as the brokers' `broker`; on a cluster of your own, its administrator), and again to
rotate one of their passwords or after an upgrade that changed their grants: it creates or updates
the SCRAM users of `provisioner`, `operator` and `health` whose passwords it is given
(KAFKA_SASL_PASSWORD_PROVISIONER, _OPERATOR, _HEALTH) and makes their ACLs exactly what the code
derives. It never prints a password.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from tools.cli.connection import resolve
from tools.stack.access_control import admin_client
from tools.stack.operators import GRANTED, SUPER_USERS, bootstrap, grants_of, password_variable


def add_parsers(sub: Any, connection_args: Any) -> None:
    p = sub.add_parser(
        "operators",
        help="the principals that run the programme (provisioner, operator, health): users and ACLs",
    )
    op = p.add_subparsers(dest="action", required=True)
    q = op.add_parser(
        "bootstrap",
        help="as a super user: create the operator principals whose KAFKA_SASL_PASSWORD_<NAME> is set, "
        "and make their ACLs exactly what the code derives",
    )
    connection_args(q)
    q.set_defaults(func=cmd_operators_bootstrap)
    q = op.add_parser("show", help="each operator principal's grants in this environment (no broker needed)")
    q.add_argument("--topic-prefix", default=None, help="the environment's topic prefix (default: env)")
    q.set_defaults(func=cmd_operators_show)


def cmd_operators_bootstrap(args: argparse.Namespace) -> None:
    connection = resolve(args.bootstrap, args.topic_prefix, args.timeout)
    if not connection.kafka.sasl:
        raise SystemExit("expert-teams: this broker does not authenticate (PLAINTEXT): there are no principals to make")
    passwords = {p: os.environ[password_variable(p)] for p in GRANTED if os.environ.get(password_variable(p))}
    admin = admin_client(connection.kafka.confluent())
    report = bootstrap(admin, passwords, connection.topic_prefix)
    print(f"as {connection.kafka.principal}:")
    for principal in GRANTED:
        made = "user set" if principal in report.users else f"user kept ({password_variable(principal)} not set)"
        print(f"  {principal:12} {made}")
    for sync in report.grants:
        print(f"  {sync.principal:17} ACLs: {len(sync.created)} created, {len(sync.deleted)} removed")
        for grant in sync.deleted:
            print(f"    removed {grant.shown()}")


def cmd_operators_show(args: argparse.Namespace) -> None:
    prefix = args.topic_prefix if args.topic_prefix is not None else os.environ.get("KAFKA_TOPIC_PREFIX", "")
    for principal in SUPER_USERS:
        print(f"User:{principal} super user (no ACL applies)")
    for principal in GRANTED:
        grants = sorted(grants_of(principal, prefix))
        if not grants:
            print(f"User:{principal} no ACL: it may authenticate and nothing else")
        for grant in grants:
            print(grant.shown())
