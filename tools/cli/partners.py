"""`expert-teams partners add|key|list|history|revoke`, `expert-teams operator-key` and
`expert-teams acls sync|list`: the operator onboards a partner system (a county, the bureau's staff
portal, the treasury, a reviewer) as a Kafka principal with SCRAM-SHA-512 credentials, its own
topics (an inbound topic per service it sends to, its answers) and exactly the ACLs those need;
registers the partner's own public key in the key registry (signed by the operator's key, kept
forever); rotates and revokes keys; and shows the registry's history to auditors.

The partner's password is written once, to a file only its owner can read, and never printed
unless asked for (`--show-password`); log lines name files, not secrets. The partner's private
key is the partner's: `partners add` registers the public key it is given (`--public-key`) and
makes a key pair only when asked (`--generate`, for demos and tests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from shared.contract.keys import ALGORITHMS
from shared.contract.partners import OperatorKeys, PartnerRecord, principal_of, public_key_is_valid
from shared.contract.registry import REGISTRY
from shared.contract.signing import generate_private_key, save_private_key
from shared.kafka_access import SASL_MECHANISM, KafkaAccess
from shared.messaging.partners import PartnerDirectory
from shared.topics import PARTNERS, with_prefix
from tools.cli.connection import Connection, resolve
from tools.keyring import OPERATOR_KEY_FILE_VARIABLE, Operator, Registry, open_partner_topics, register, revoke
from tools.stack.access_control import (
    GROUP_DELIMITER,
    admin_client,
    delete_user,
    grants_on_broker,
    partner_grants,
    partner_names,
    programme_names,
    revoke_all,
    service_grants,
    service_principal,
    sync_grants,
    upsert_user,
    users_on_broker,
)
from tools.stack.quotas import PartnerQuotas, QuotaRefused, remove_quotas, set_quotas
from tools.stack.security import new_password, write_secret

SERVICE_PREFIX = "service."
RESERVED_SOURCES = ("/services/", "/service/", "/operator/", "/ops/")
"""Sources no partner may have: their principals would be the services' or the operator's."""


def add_parsers(sub: Any, connection_args: Any) -> None:
    p = sub.add_parser("partners", help="onboard partner systems, register and revoke their keys, audit the registry")
    pp = p.add_subparsers(dest="action", required=True)

    def operator_args(q: argparse.ArgumentParser) -> None:
        connection_args(q)
        q.add_argument(
            "--operator-key",
            type=Path,
            help=f"the operator's signing key (PEM; default: ${OPERATOR_KEY_FILE_VARIABLE}, else the embedded stack's)",
        )

    def key_args(q: argparse.ArgumentParser, required: bool = True) -> None:
        given = q.add_mutually_exclusive_group(required=required)
        given.add_argument(
            "--public-key",
            help="the partner's own public key (base64url: Ed25519 its 32 raw bytes, SM2 its 64 bytes x||y); its "
            "private key never leaves the partner",
        )
        given.add_argument(
            "--generate",
            action="store_true",
            help="make the key pair here and write the private key beside the credentials (demos and tests only)",
        )
        q.add_argument("--algorithm", choices=ALGORITHMS, default="Ed25519", help="the key's algorithm")

    q = pp.add_parser(
        "add", help="create a partner's principal, credentials, topics and ACLs, register its key; print its settings"
    )
    operator_args(q)
    q.add_argument("source", help="the partner's CloudEvents source, e.g. /counties/500240")
    key_args(q, required=False)
    q.add_argument("--out", type=Path, help="folder for the partner's credentials (default: the stack's)")
    q.add_argument(
        "--rotate", action="store_true", help="give an onboarded partner a new password (its key stays unless given)"
    )
    q.add_argument("--show-password", action="store_true", help="print the password too (it is in the file)")
    q.add_argument("--partitions", type=int, default=None, help="partitions of each of its inbound topics (default 3)")
    defaults = PartnerQuotas()
    q.add_argument(
        "--producer-byte-rate",
        type=int,
        default=defaults.producer_byte_rate,
        help=f"its write quota per broker, bytes/s (default {defaults.producer_byte_rate}; tools/stack/quotas.py)",
    )
    q.add_argument(
        "--consumer-byte-rate",
        type=int,
        default=defaults.consumer_byte_rate,
        help=f"its read quota per broker, bytes/s (default {defaults.consumer_byte_rate})",
    )
    q.add_argument(
        "--request-percentage",
        type=float,
        default=defaults.request_percentage,
        help=f"its share of a broker's request threads, percent (default {defaults.request_percentage:g})",
    )
    q.set_defaults(func=cmd_partners_add)

    q = pp.add_parser("key", help="register a new key for an onboarded partner (rotation): its previous key is retired")
    operator_args(q)
    q.add_argument("source")
    key_args(q)
    q.add_argument("--out", type=Path, help="with --generate: where the private key is written (default: the stack's)")
    q.set_defaults(func=cmd_partners_key)

    q = pp.add_parser("list", help="the partners the broker knows, what each may write, their current keys")
    operator_args(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_partners_list)

    q = pp.add_parser(
        "history", help="every change of the key registry, each checked (operator signature, chain): for auditors"
    )
    operator_args(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_partners_history)

    q = pp.add_parser(
        "revoke", help="delete a partner's credentials and ACLs and revoke its keys: refused from its next request"
    )
    operator_args(q)
    q.add_argument("source")
    q.set_defaults(func=cmd_partners_revoke)

    p = sub.add_parser("operator-key", help="the operator's signing key: its public key for OPERATOR_PUBLIC_KEYS")
    ok = p.add_subparsers(dest="action", required=True)
    q = ok.add_parser("show", help="print the operator's public key as OPERATOR_PUBLIC_KEYS takes it")
    q.add_argument("--operator-key", type=Path, help="the key file (default as for `partners`)")
    q.set_defaults(func=cmd_operator_key_show)
    q = ok.add_parser("new", help="make a new operator key in FILE (owner-only) and print its public key")
    q.add_argument("file", type=Path)
    q.add_argument("--algorithm", choices=ALGORITHMS, default="Ed25519")
    q.set_defaults(func=cmd_operator_key_new)

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


def signer(args: argparse.Namespace) -> Operator:
    from tools.keyring import MissingKey, operator_from_environment

    try:
        if getattr(args, "operator_key", None) is not None:
            return Operator.from_file(args.operator_key, _operator_name())
        operator = operator_from_environment()
    except MissingKey as exc:
        raise SystemExit(f"expert-teams: {exc}") from None
    operator.name = _operator_name()
    return operator


def _registry(args: argparse.Namespace, connection: Connection) -> Registry:
    """The registry as the services read it: OPERATOR_PUBLIC_KEYS when set (e.g. while the
    operator's key is rotated), else the operator's own key."""
    trusted = OperatorKeys.parse(os.environ.get("OPERATOR_PUBLIC_KEYS", ""))
    return Registry(connection.kafka, connection.topic_prefix, signer(args), trusted)


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


def _check_source(source: str) -> list[str]:
    if not source.startswith("/") or source.startswith(RESERVED_SOURCES):
        raise SystemExit(f"expert-teams: {source!r} is not a partner's source (e.g. /counties/500240)")
    principal = principal_of(source)
    if len(f"funding.inbound.{principal}") > 200:
        raise SystemExit(f"expert-teams: {source!r} is too long for its topic names")
    entitled = _entitled(source)
    if not entitled:
        raise SystemExit(f"expert-teams: no event type may be sent by {source}: see docs/contract/README.md")
    return entitled


def _partner_key(args: argparse.Namespace, folder: Path | None) -> tuple[str, str, Path | None]:
    """(algorithm, public key, private key file or None) from --public-key or --generate."""
    if args.public_key:
        why = public_key_is_valid(args.algorithm, args.public_key)
        if why is not None:
            raise SystemExit(f"expert-teams: --public-key is not an {args.algorithm} public key: {why}")
        return args.algorithm, args.public_key, None
    if folder is None:
        raise SystemExit("expert-teams: --generate needs --out FOLDER for the private key")
    key = generate_private_key(args.algorithm)
    key_file = folder / "signing-key.pem"
    save_private_key(key, key_file)
    return key.algorithm, key.public_key, key_file


def cmd_partners_add(args: argparse.Namespace) -> None:
    source = args.source
    entitled = _check_source(source)
    connection, admin = _operator(args)
    registry = _registry(args, connection)
    principal = principal_of(source)
    known = principal in users_on_broker(admin)
    if known and not args.rotate:
        raise SystemExit(
            f"expert-teams: {source} is onboarded already (principal {principal}); --rotate gives it a new password, "
            "`partners key` a new signing key"
        )
    folder = _credentials_dir(args, connection, principal)
    if not (args.public_key or args.generate or known):
        raise SystemExit(
            "expert-teams: give the partner's own public key (--public-key) or, for demos and tests, --generate"
        )
    algorithm, public_key, key_file = _partner_key(args, folder) if args.public_key or args.generate else ("", "", None)
    prefix = connection.topic_prefix
    topics = asyncio.run(open_partner_topics(connection.kafka, prefix, source, partitions=args.partitions))
    password = new_password()
    upsert_user(admin, principal, password)
    managed = programme_names(prefix) | partner_names(source, prefix)
    report = sync_grants(admin, f"User:{principal}", partner_grants(source, prefix), managed)
    access = connection.kafka.as_user(principal, password)
    write_secret(folder / "client.properties", client_properties(access).encode())
    quotas = PartnerQuotas(args.producer_byte_rate, args.consumer_byte_rate, args.request_percentage)
    try:
        asyncio.run(set_quotas(connection.kafka, principal, quotas))
    except QuotaRefused as exc:
        raise SystemExit(f"expert-teams: {exc}") from None
    record = asyncio.run(register(registry, source, public_key, algorithm=algorithm)) if public_key else None
    print(f"{'rotated' if known else 'onboarded'} {source} as principal {principal}")
    print(f"  may send: {', '.join(entitled)}")
    for topic in topics[:-1]:
        print(f"  writes:   {topic}")
    print(f"  answers:  reads {topics[-1]} in consumer groups named {prefix}{principal}{GROUP_DELIMITER}<name>")
    print(f"  ACLs:     {len(report.created)} created, {len(report.deleted)} removed")
    print(f"  quotas:   {quotas.shown()} per broker")
    if record is not None:
        print(f"  signing:  {record.algorithm} key {record.key_id} registered (#{record.sequence} of {prefix}partners)")
        print(f"            every event names it: signaturekeyid={record.key_id}")
    else:
        print("  signing:  its registered key stays (`partners key` registers a new one)")
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


def cmd_partners_key(args: argparse.Namespace) -> None:
    source = args.source
    _check_source(source)
    connection = resolve(args.bootstrap, args.topic_prefix, args.timeout)
    registry = _registry(args, connection)
    principal = principal_of(source)
    folder = args.out if args.out is not None else None
    if args.generate and folder is None:
        folder = _credentials_dir(args, connection, principal)
    algorithm, public_key, key_file = _partner_key(args, folder)
    record = asyncio.run(register(registry, source, public_key, algorithm=algorithm))
    print(f"registered {record.algorithm} key {record.key_id} for {source} (#{record.sequence}); from now on it signs")
    print("  the previous key signs nothing from now on; what it signed before stays valid")
    if key_file is not None:
        print(f"  private key {key_file} (owner-only)")


def _partner_principals(admin: Any) -> list[str]:
    # a partner's principal has a dot (from its source); the operator principals have none
    return [u for u in users_on_broker(admin) if "." in u and not u.startswith(SERVICE_PREFIX)]


def cmd_partners_list(args: argparse.Namespace) -> None:
    connection, admin = _operator(args)
    keys = asyncio.run(_registered_keys(_registry(args, connection)))
    for principal in _partner_principals(admin):
        grants = grants_on_broker(admin, f"User:{principal}")
        writes = sorted(g.name for g in grants if g.operation == "WRITE")
        record = keys.get(principal)
        key = (
            f"{record.algorithm} key {record.key_id} {record.status} since {record.changed_at:%Y-%m-%d}"
            if record
            else "no signing key"
        )
        if args.json:
            print(json.dumps({"principal": principal, "writes": writes, "key": key}, ensure_ascii=False))
        else:
            print(f"{principal:32} writes {', '.join(writes) or 'nothing (no ACLs)'}; {key}")


async def _registered_keys(registry: Registry) -> dict[str, PartnerRecord]:
    async with PartnerDirectory(registry.access, registry.topic, registry.operators) as directory:
        return {record.principal: record for record in directory.records()}


def cmd_partners_history(args: argparse.Namespace) -> None:
    connection = resolve(args.bootstrap, args.topic_prefix, args.timeout)
    registry = _registry(args, connection)

    async def read() -> tuple[list[tuple[PartnerRecord, Any]], list[tuple[int, str]]]:
        topic = with_prefix(connection.topic_prefix, PARTNERS)
        async with PartnerDirectory(registry.access, topic, registry.operators) as directory:
            return list(directory.history.records), list(directory.ignored)

    records, ignored = asyncio.run(read())
    for record, appended_at in records:
        row = record.document() | {"appended_at": appended_at.isoformat(), "digest": record.digest()}
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(
                f"#{record.sequence:<4} {appended_at:%Y-%m-%d %H:%M:%S}  {record.status:8} {record.source:28} "
                f"{record.algorithm} {record.key_id}  by {record.changed_by}"
            )
    for offset, why in ignored:
        if args.json:
            print(json.dumps({"ignored_offset": offset, "why": why}, ensure_ascii=False))
        else:
            print(f"IGNORED offset {offset}: {why}")
    if not args.json:
        print(f"{len(records)} changes, each signed by a trusted operator key and chained; {len(ignored)} ignored")


def _operator_name() -> str:
    return f"operator {os.environ.get('USER', 'unknown')} (expert-teams partners)"


def cmd_partners_revoke(args: argparse.Namespace) -> None:
    connection, admin = _operator(args)
    registry = _registry(args, connection)
    principal = principal_of(args.source)
    deleted = revoke_all(admin, f"User:{principal}")
    had_user = delete_user(admin, principal)
    try:
        asyncio.run(remove_quotas(connection.kafka, principal))
    except QuotaRefused as exc:
        print(f"  its quotas could not be removed: {exc}")
    try:
        keys = asyncio.run(revoke(registry, args.source))
    except LookupError:
        keys = []
    if not deleted and not had_user and not keys:
        raise SystemExit(f"expert-teams: {args.source} (principal {principal}) is not onboarded")
    print(f"revoked {args.source}: principal {principal} deleted, {len(deleted)} ACLs removed")
    print("  its next request is refused; connections it holds end at their next re-authentication")
    for record in keys:
        print(
            f"  key {record.key_id} revoked (#{record.sequence}): nothing arriving from now on is taken as signed by it"
        )


def cmd_operator_key_show(args: argparse.Namespace) -> None:
    operator = signer(args)
    print(operator.trusted.text())


def cmd_operator_key_new(args: argparse.Namespace) -> None:
    if args.file.exists():
        raise SystemExit(f"expert-teams: {args.file} exists; a new operator key never overwrites one")
    key = generate_private_key(args.algorithm)
    save_private_key(key, args.file)
    print(OperatorKeys.of(key).text())


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
