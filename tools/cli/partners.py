"""`expert-teams partners add|list|revoke` and `expert-teams acls sync|list`: the operator onboards a
partner system (a county, the bureau's staff portal, the treasury, a reviewer) as a Kafka
principal with SCRAM-SHA-512 credentials and exactly the ACLs its event types need, and
revokes it (the broker refuses its next request).

The partner's password is written once, to a file only its owner can read, and never printed
unless asked for (`--show-password`); log lines name files, not secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from shared.contract.partners import PartnerRecord, principal_of
from shared.contract.registry import REGISTRY
from shared.contract.signing import generate_private_key, public_key_text, save_private_key
from shared.kafka_access import SASL_MECHANISM, KafkaAccess
from shared.messaging.partners import PartnerDirectory
from shared.topics import PARTNERS, with_prefix
from tools.cli.connection import Connection, resolve
from tools.keyring import register, revoke
from tools.stack.access_control import (
    admin_client,
    delete_user,
    grants_on_broker,
    inbound_topics_of,
    partner_grants,
    programme_names,
    revoke_all,
    service_grants,
    service_principal,
    sync_grants,
    upsert_user,
    users_on_broker,
)
from tools.stack.security import new_password, write_secret

SERVICE_PREFIX = "service."


def add_parsers(sub: Any, connection_args: Any) -> None:
    p = sub.add_parser("partners", help="onboard, list and revoke partner systems (Kafka principals and ACLs)")
    pp = p.add_subparsers(dest="action", required=True)
    q = pp.add_parser("add", help="create a partner's principal, SCRAM credentials and ACLs; print its settings")
    connection_args(q)
    q.add_argument("source", help="the partner's CloudEvents source, e.g. /counties/500240")
    q.add_argument("--out", type=Path, help="folder for the partner's credentials (default: the stack's)")
    q.add_argument("--rotate", action="store_true", help="give an onboarded partner a new password")
    q.add_argument("--show-password", action="store_true", help="print the password too (it is in the file)")
    q.add_argument(
        "--public-key",
        help="the partner's own Ed25519 public key (base64url of its 32 bytes): registered, and no private key is "
        "made here (the better way: the private key never leaves the partner)",
    )
    q.set_defaults(func=cmd_partners_add)
    q = pp.add_parser("list", help="the partners the broker knows and what each may write")
    connection_args(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_partners_list)
    q = pp.add_parser("revoke", help="delete a partner's credentials and ACLs: refused from its next request")
    connection_args(q)
    q.add_argument("source")
    q.set_defaults(func=cmd_partners_revoke)

    p = sub.add_parser("acls", help="the services' ACLs, derived from their subscriptions and the registry")
    ap = p.add_subparsers(dest="action", required=True)
    q = ap.add_parser(
        "sync",
        help="make each service's ACLs exactly what it needs; create its SCRAM user from "
        "KAFKA_SASL_PASSWORD_<SERVICE> when that variable is set",
    )
    connection_args(q)
    q.set_defaults(func=cmd_acls_sync)
    q = ap.add_parser("list", help="every grant, per principal")
    connection_args(q)
    q.set_defaults(func=cmd_acls_list)


def _operator(args: argparse.Namespace) -> tuple[Connection, Any]:
    connection = resolve(args.bootstrap, args.topic_prefix, args.timeout)
    if not connection.kafka.sasl:
        raise SystemExit(
            "expert-teams: this broker does not authenticate (PLAINTEXT): there are no principals or ACLs to "
            "manage; give the operator's credentials (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_USERNAME/PASSWORD)"
        )
    return connection, admin_client(connection.kafka.confluent())


def _entitled(source: str) -> list[str]:
    return sorted(spec.type for spec in REGISTRY if any(fnmatchcase(source, p) for p in spec.senders))


def _credentials_dir(args: argparse.Namespace, connection: Connection, principal: str) -> Path:
    if args.out is not None:
        return Path(args.out)
    security_dir = _stack_security_dir(connection)
    if security_dir is None:
        raise SystemExit("expert-teams: --out FOLDER is needed for a broker other than the embedded stack's")
    return security_dir / "partners" / principal


def _stack_security_dir(connection: Connection) -> Path | None:
    from tools.stack.launcher import read_stack_file

    stack = read_stack_file() if connection.embedded else None
    return Path(stack["security_dir"]) if stack and stack.get("security_dir") else None


def client_properties(access: KafkaAccess) -> str:
    """The settings a partner's Kafka client needs (Java client properties; librdkafka reads the same names)."""
    lines = [
        f"bootstrap.servers={access.bootstrap_servers}",
        f"security.protocol={access.security_protocol}",
        f"sasl.mechanism={SASL_MECHANISM}",
        f"sasl.username={access.username}",
        f"sasl.password={access.password}",
        "# Java client: sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{access.username}" password="<sasl.password>";',
    ]
    if access.cafile is not None:
        lines.append(f"ssl.ca.location={access.cafile}")
        lines.append(f"# Java client: ssl.truststore.type=PEM, ssl.truststore.location={access.cafile}")
    return "\n".join(lines) + "\n"


def cmd_partners_add(args: argparse.Namespace) -> None:
    source = args.source
    if not source.startswith("/") or source.startswith("/services/"):
        raise SystemExit(f"expert-teams: {source!r} is not a partner's source (e.g. /counties/500240)")
    entitled = _entitled(source)
    if not entitled:
        raise SystemExit(f"expert-teams: no event type may be sent by {source}: see docs/contract/README.md")
    connection, admin = _operator(args)
    principal = principal_of(source)
    known = principal in users_on_broker(admin)
    if known and not args.rotate:
        raise SystemExit(
            f"expert-teams: {source} is onboarded already (principal {principal}); --rotate gives it a new password"
        )
    folder = _credentials_dir(args, connection, principal)
    password = new_password()
    upsert_user(admin, principal, password)
    managed = programme_names(connection.topic_prefix) | {connection.topic_prefix + principal}
    report = sync_grants(admin, f"User:{principal}", partner_grants(source, connection.topic_prefix), managed)
    access = connection.kafka.as_user(principal, password)
    write_secret(folder / "client.properties", client_properties(access).encode())
    if args.public_key:
        public_key, key_file = args.public_key, None
    else:
        key = generate_private_key()
        key_file = folder / "signing-key.pem"
        save_private_key(key, key_file)
        public_key = public_key_text(key)
    record = asyncio.run(register(connection.kafka, connection.topic_prefix, source, public_key, by=_operator_name()))
    print(f"{'rotated' if known else 'onboarded'} {source} as principal {principal}")
    print(f"  may send: {', '.join(entitled)}")
    for topic in inbound_topics_of(source):
        print(f"  writes:   {connection.topic_prefix}{topic}")
    prefix = connection.topic_prefix
    print(f"  answers:  reads {prefix}rejections in consumer groups named {prefix}{principal}*")
    print(f"  ACLs:     {len(report.created)} created, {len(report.deleted)} removed")
    print(f"  signing:  public key {record.public_key} registered on {prefix}partners")
    if key_file is not None:
        print(f"            private key {key_file} (owner-only; the partner signs every event with it)")
    print("client settings:")
    print(f"  bootstrap.servers={access.bootstrap_servers}")
    print(f"  security.protocol={access.security_protocol}")
    print(f"  sasl.mechanism={SASL_MECHANISM}")
    print(f"  sasl.username={principal}")
    if access.cafile is not None:
        print(f"  ssl.ca.location={access.cafile}  (the CA to give the partner)")
    print(f"  password and every setting: {folder / 'client.properties'} (owner-only; hand it over securely)")
    if args.show_password:
        print(f"  sasl.password={password}")


def _partner_principals(admin: Any) -> list[str]:
    # a partner's principal has a dot (from its source); the operator principals have none
    return [u for u in users_on_broker(admin) if "." in u and not u.startswith(SERVICE_PREFIX)]


def cmd_partners_list(args: argparse.Namespace) -> None:
    connection, admin = _operator(args)
    keys = asyncio.run(_registered_keys(connection))
    for principal in _partner_principals(admin):
        grants = grants_on_broker(admin, f"User:{principal}")
        writes = sorted(g.name for g in grants if g.operation == "WRITE")
        record = keys.get(principal)
        key = f"key {record.status} since {record.changed_at:%Y-%m-%d}" if record else "no signing key"
        if args.json:
            print(json.dumps({"principal": principal, "writes": writes, "key": key}, ensure_ascii=False))
        else:
            print(f"{principal:32} writes {', '.join(writes) or 'nothing (no ACLs)'}; {key}")


async def _registered_keys(connection: Connection) -> dict[str, PartnerRecord]:
    async with PartnerDirectory(connection.kafka, with_prefix(connection.topic_prefix, PARTNERS)) as directory:
        return {record.principal: record for record in directory.records()}


def _operator_name() -> str:
    return f"operator {os.environ.get('USER', 'unknown')} (expert-teams partners)"


def cmd_partners_revoke(args: argparse.Namespace) -> None:
    connection, admin = _operator(args)
    principal = principal_of(args.source)
    deleted = revoke_all(admin, f"User:{principal}")
    had_user = delete_user(admin, principal)
    try:
        key = asyncio.run(revoke(connection.kafka, connection.topic_prefix, args.source, by=_operator_name()))
    except LookupError:
        key = None
    if not deleted and not had_user and key is None:
        raise SystemExit(f"expert-teams: {args.source} (principal {principal}) is not onboarded")
    print(f"revoked {args.source}: principal {principal} deleted, {len(deleted)} ACLs removed")
    print("  its next request is refused; connections it holds end at their next re-authentication")
    if key is not None:
        print("  its signing key is revoked: every service refuses its events from now (unauthorized_source)")


def cmd_acls_sync(args: argparse.Namespace) -> None:
    from services.catalog import DEFINITIONS

    connection, admin = _operator(args)
    for definition in DEFINITIONS:
        principal = service_principal(definition.name)
        password = os.environ.get(f"KAFKA_SASL_PASSWORD_{definition.name.upper()}")
        if password:
            upsert_user(admin, principal, password)
        consumed = [s.topic for s in definition.subscriptions]
        wanted = service_grants(definition.name, consumed, connection.topic_prefix)
        report = sync_grants(admin, f"User:{principal}", wanted, programme_names(connection.topic_prefix))
        user = "user set, " if password else ""
        print(
            f"{principal:20} {user}{len(wanted)} grants: {len(report.created)} created, {len(report.deleted)} removed"
        )
        for grant in report.deleted:
            print(f"  removed {grant.shown()}")


def cmd_acls_list(args: argparse.Namespace) -> None:
    _, admin = _operator(args)
    for principal in users_on_broker(admin):
        for grant in sorted(grants_on_broker(admin, f"User:{principal}")):
            print(grant.shown())
