"""`expert-teams send`: one CloudEvent, from a file or from flags."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.contract.envelope import STRUCTURED_CONTENT_TYPE, Envelope, EnvelopeError, new_envelope, parse_record
from shared.contract.registry import REGISTRY
from shared.contract.signing import SigningError, load_private_key
from shared.messaging.stages import summarize
from tools.cli.connection import Connection
from tools.client import ProgrammeClient
from tools.keyring import Keyring, Operator, operator_from_environment
from tools.stack.launcher import partner_keys_dir


def build_envelope(args: argparse.Namespace) -> Envelope:
    if args.file:
        try:
            return parse_record(args.file.read_bytes(), [("content-type", STRUCTURED_CONTENT_TYPE.encode())], None)
        except EnvelopeError as exc:
            raise SystemExit(f"{args.file} is not a usable CloudEvent: {exc.detail}") from exc
    if not (args.type and args.source and (args.data or args.data_file)):
        raise SystemExit("give --file, or all of --type, --source and --data/--data-file")
    data: Any = json.loads(args.data_file.read_text(encoding="utf-8") if args.data_file else args.data)
    if not isinstance(data, dict):
        raise SystemExit("the data must be a JSON object")
    spec = REGISTRY.get(args.type)
    subject = args.subject
    if subject is None:
        if spec is None:
            raise SystemExit(f"unknown type {args.type}: give --subject (and --topic)")
        try:
            subject = spec.model.model_validate(data).subject()
        except ValidationError as exc:
            raise SystemExit(
                f"the data is not a valid {args.type}: {summarize(exc)}; give --subject to send it anyway"
            ) from exc
    return new_envelope(
        source=args.source,
        type=args.type,
        subject=subject,
        data=data,
        time=datetime.now(UTC),
        correlation_id=args.correlation_id,
        event_id=args.id,
        dataschema=spec.dataschema if spec else None,
    )


def keyring_for(connection: Connection, source: str, signing_key: Path | None) -> tuple[Keyring, Operator | None]:
    """The keyring to sign with, and the operator who registers the source's key first (None: it
    is registered already): the given key file; else, on the embedded stack (whose operator the
    user is), the stack's key of the source."""
    if signing_key is not None:
        keyring = Keyring()
        try:
            keyring.add(source, load_private_key(signing_key))
        except (OSError, SigningError) as exc:
            raise SystemExit(f"cannot read the signing key {signing_key}: {exc}") from None
        return keyring, None
    if connection.embedded:
        return Keyring(partner_keys_dir()), operator_from_environment()
    raise SystemExit(
        f"events to inbound topics must be signed: give --signing-key with the private key of {source} "
        "(its public key registered by the operator)"
    )


async def send(
    connection: Connection, envelope: Envelope, *, topic: str | None, binary: bool, signing_key: Path | None = None
) -> None:
    spec = REGISTRY.get(envelope.type)
    keyring, operator = (None, None)
    if (topic or (spec.topic if spec else "")).endswith(".inbound") or ".inbound." in (topic or ""):
        keyring, operator = keyring_for(connection, envelope.source, signing_key)
    async with ProgrammeClient(
        connection.kafka,
        topic_prefix=connection.topic_prefix,
        connect_timeout_s=connection.timeout_s,
        keyring=keyring,
        enrol=operator is not None,
        operator=operator,
    ) as client:
        await client.send_envelope(envelope, topic=topic, binary=binary)
