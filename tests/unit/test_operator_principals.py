"""The principals that run the programme, each with its own credential and as narrow as Kafka's
authorization model allows (tools/stack/operators.py): who is a super user, what each of the
others may and may not do, and that no password reaches a command line, a log or an exception
when the brokers' storage is formatted."""

from __future__ import annotations

import argparse
import hashlib
import io
import stat
from contextlib import redirect_stdout
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from services.catalog import DEFINITIONS
from shared.contract.partners import principal_of
from shared.contract.registry import REGISTRY
from shared.topics import PARTNERS, all_topics, events, inbound
from tools.cli import operators as operators_cli
from tools.stack import operators
from tools.stack.access_control import Grant, SyncReport, service_principal
from tools.stack.kafka import POM_PATH, BrokerSecurity, KafkaBroker, java_argument_file, kafka_version
from tools.stack.operators import (
    BROKER,
    CLUSTER,
    CONTROLLER,
    GRANTED,
    HEALTH,
    OPERATOR,
    PRINCIPALS,
    PROVISIONER,
    SUPER_USERS,
    grants_of,
    permits,
)
from tools.stack.security import SecurityStore

EVERY_TOPIC = [spec.name for spec in all_topics()]


def can(principal: str, resource: str, name: str, operation: str, prefix: str = "") -> bool:
    return permits(grants_of(principal, prefix), principal, resource, name, operation)


# ---- who they are -------------------------------------------------------------------------------


def test_only_the_brokers_and_the_controllers_are_super_users_and_they_log_in_as_themselves() -> None:
    assert SUPER_USERS == (BROKER, CONTROLLER)
    properties = BrokerSecurity("broker-secret", "controller-secret", "health-secret").properties(9092, 9093)
    assert properties["super.users"] == "User:broker;User:controller"
    assert (
        'username="broker" password="broker-secret"'
        in properties["listener.name.broker.scram-sha-512.sasl.jaas.config"]
    )
    assert 'username="controller"' in properties["listener.name.controller.plain.sasl.jaas.config"]
    assert not any(principal in properties["super.users"] for principal in GRANTED)


def test_the_principal_names_have_no_dot_so_no_partner_or_service_can_be_given_one_of_them() -> None:
    assert len(set(PRINCIPALS)) == 5
    assert all("." not in name for name in (*PRINCIPALS, *operators.LEGACY))
    sources = ["/counties/500240", "/bureau/hrss", "/portal/expert-portal", "/treasury/cq-finance", "/reviewers/R-001"]
    assert all(any(fnmatchcase(source, p) for spec in REGISTRY for p in spec.senders) for source in sources)
    partners = {principal_of(source) for source in sources}
    services = {service_principal(definition.name) for definition in DEFINITIONS}
    assert all("." in name for name in partners | services)
    assert not set(PRINCIPALS) & (partners | services)


def test_the_stack_keeps_a_password_for_each_of_them_and_none_for_the_old_admin(tmp_path: Path) -> None:
    store = SecurityStore(tmp_path / "security")
    store.password_of("admin")
    store.ensure()
    store.forget_legacy()
    kept = {path.stem: path.read_text() for path in (tmp_path / "security" / "passwords").glob("*.password")}
    assert set(kept) == set(PRINCIPALS)
    assert len(set(kept.values())) == len(kept), "each has its own"
    access = store.access(OPERATOR, "127.0.0.1:9092")
    assert (access.username, access.security_protocol) == (OPERATOR, "SASL_PLAINTEXT")
    assert kept[OPERATOR] not in repr(access)


# ---- what each may do ---------------------------------------------------------------------------


def test_the_provisioner_creates_and_configures_topics_and_manages_users_and_acls_but_reads_and_writes_nothing() -> (
    None
):
    for topic in EVERY_TOPIC:
        for operation in ("CREATE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "ALTER"):
            assert can(PROVISIONER, "TOPIC", topic, operation), (topic, operation)
        for operation in ("READ", "WRITE", "DELETE"):
            assert not can(PROVISIONER, "TOPIC", topic, operation), f"the provisioner may {operation} {topic}"
    assert can(PROVISIONER, "CLUSTER", CLUSTER, "ALTER"), "SCRAM users and ACLs"
    assert can(PROVISIONER, "CLUSTER", CLUSTER, "DESCRIBE")
    for operation in ("ALTER_CONFIGS", "CLUSTER_ACTION", "IDEMPOTENT_WRITE", "CREATE"):
        assert not can(PROVISIONER, "CLUSTER", CLUSTER, operation), operation
    assert not any(grant.resource == "GROUP" for grant in grants_of(PROVISIONER)), "it consumes nothing"
    assert not any(grant.resource == "TRANSACTIONAL_ID" for grant in grants_of(PROVISIONER))


def test_the_operator_reads_and_writes_the_programme_and_onboards_partners_but_deletes_and_reconfigures_nothing() -> (
    None
):
    for topic in EVERY_TOPIC:
        for operation in ("READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS", "CREATE"):
            assert can(OPERATOR, "TOPIC", topic, operation), (topic, operation)
        for operation in ("DELETE", "ALTER", "ALTER_CONFIGS"):
            assert not can(OPERATOR, "TOPIC", topic, operation), f"the operator may {operation} {topic}"
    assert can(OPERATOR, "TOPIC", PARTNERS, "WRITE"), "registers partners' keys"
    assert can(OPERATOR, "TOPIC", "rejections.counties.500240", "CREATE"), "per-partner topics to come"
    for group in ("orders", "counties.500240-follow", "expert-teams-cli"):
        assert can(OPERATOR, "GROUP", group, "READ") and can(OPERATOR, "GROUP", group, "DESCRIBE")
        assert not can(OPERATOR, "GROUP", group, "DELETE")
    for operation in ("ALTER", "DESCRIBE", "ALTER_CONFIGS", "DESCRIBE_CONFIGS"):
        assert can(OPERATOR, "CLUSTER", CLUSTER, operation), f"partners and their quotas need {operation}"
    for operation in ("CLUSTER_ACTION", "IDEMPOTENT_WRITE", "CREATE"):
        assert not can(OPERATOR, "CLUSTER", CLUSTER, operation), operation
    assert not any(grant.resource == "TRANSACTIONAL_ID" for grant in grants_of(OPERATOR))


def test_the_healthcheck_may_authenticate_and_nothing_else() -> None:
    assert grants_of(HEALTH) == set() == grants_of(HEALTH, "staging.")
    for topic in EVERY_TOPIC:
        assert not any(can(HEALTH, "TOPIC", topic, op) for op in ("READ", "WRITE", "CREATE", "DESCRIBE"))
    assert not can(HEALTH, "CLUSTER", CLUSTER, "DESCRIBE")


def test_with_a_topic_prefix_the_grants_stop_at_the_environments_names() -> None:
    prefix = "staging."
    for principal in (PROVISIONER, OPERATOR):
        for grant in grants_of(principal, prefix):
            assert grant.principal == f"User:{principal}"
            if grant.resource == "CLUSTER":
                assert (grant.name, grant.prefixed) == (CLUSTER, False)
            else:
                assert (grant.name, grant.prefixed) == (prefix, True), grant
    assert can(OPERATOR, "TOPIC", f"{prefix}{events('orders')}", "READ", prefix)
    assert not can(OPERATOR, "TOPIC", events("orders"), "READ", prefix), "another environment's topic"
    assert not can(OPERATOR, "TOPIC", f"production.{events('orders')}", "READ", prefix)
    assert can(PROVISIONER, "TOPIC", f"{prefix}{inbound('funding')}", "CREATE", prefix)
    assert not can(PROVISIONER, "TOPIC", inbound("funding"), "CREATE", prefix)
    without = {(g.resource, g.name, g.prefixed) for g in grants_of(OPERATOR)} - {("CLUSTER", CLUSTER, False)}
    assert without == {("TOPIC", "*", False), ("GROUP", "*", False)}, "no prefix: the cluster is the environment's"


def test_the_authorizer_reading_follows_kafkas_implications() -> None:
    read = {Grant(f"User:{OPERATOR}", "TOPIC", "orders.events", "READ")}
    assert permits(read, OPERATOR, "TOPIC", "orders.events", "DESCRIBE"), "READ implies DESCRIBE"
    assert not permits(read, OPERATOR, "TOPIC", "orders.events", "WRITE")
    assert not permits(read, PROVISIONER, "TOPIC", "orders.events", "READ"), "another principal's grant"
    altering = {Grant(f"User:{PROVISIONER}", "TOPIC", "t.", "ALTER_CONFIGS", prefixed=True)}
    assert permits(altering, PROVISIONER, "TOPIC", "t.orders.events", "DESCRIBE_CONFIGS")
    assert not permits(altering, PROVISIONER, "TOPIC", "u.orders.events", "DESCRIBE_CONFIGS")


# ---- bootstrap and the CLI ----------------------------------------------------------------------


def test_bootstrap_sets_the_passwords_it_is_given_and_makes_each_principals_acls_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    users: dict[str, str] = {}
    synced: dict[str, tuple[set[Grant], set[str] | None]] = {}
    revoked: list[str] = []
    monkeypatch.setattr(operators, "upsert_user", lambda admin, user, password: users.__setitem__(user, password))

    def sync(admin: Any, principal: str, wanted: set[Grant], managed: set[str] | None = None) -> SyncReport:
        synced[principal] = (wanted, managed)
        return SyncReport(principal, sorted(wanted), [])

    def revoke_all(admin: Any, principal: str) -> list[Grant]:
        revoked.append(principal)
        return [Grant(principal, "TOPIC", "orders.events", "READ")]

    monkeypatch.setattr(operators, "sync_grants", sync)
    monkeypatch.setattr(operators, "revoke_all", revoke_all)
    report = operators.bootstrap(object(), {PROVISIONER: "p-secret", OPERATOR: "o-secret"}, "staging.")
    assert users == {PROVISIONER: "p-secret", OPERATOR: "o-secret"}, "health's was not given: its user is kept"
    assert report.users == [PROVISIONER, OPERATOR]
    assert synced == {
        f"User:{PROVISIONER}": (grants_of(PROVISIONER, "staging."), {"staging.", CLUSTER}),
        f"User:{OPERATOR}": (grants_of(OPERATOR, "staging."), {"staging.", CLUSTER}),
    }
    assert revoked == [f"User:{HEALTH}"], "every ACL of health goes, on whatever name"
    assert report.grants[-1].deleted, "and is reported"
    with pytest.raises(ValueError, match="broker"):
        operators.bootstrap(object(), {BROKER: "x"})


def test_the_operators_bootstrap_command_reads_passwords_from_the_environment_and_prints_none(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.kafka_access import KafkaAccess
    from tools.cli.connection import Connection

    given: dict[str, Any] = {}
    super_user = KafkaAccess("kafka-1:9092", "SASL_PLAINTEXT", BROKER, "broker-secret")
    monkeypatch.setattr(operators_cli, "resolve", lambda *a: Connection(super_user, "", embedded=False))
    monkeypatch.setattr(operators_cli, "admin_client", lambda config: given.setdefault("config", config))

    def bootstrap(admin: Any, passwords: dict[str, str], prefix: str) -> operators.BootstrapReport:
        given["passwords"] = passwords
        return operators.BootstrapReport(sorted(passwords), [SyncReport(f"User:{PROVISIONER}", [], [])])

    monkeypatch.setattr(operators_cli, "bootstrap", bootstrap)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_PROVISIONER", "p-secret")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_OPERATOR", "o-secret")
    monkeypatch.delenv("KAFKA_SASL_PASSWORD_HEALTH", raising=False)
    operators_cli.cmd_operators_bootstrap(argparse.Namespace(bootstrap=None, topic_prefix=None, timeout=10.0))
    assert given["passwords"] == {PROVISIONER: "p-secret", OPERATOR: "o-secret"}
    assert given["config"]["sasl.username"] == BROKER
    out = capsys.readouterr().out
    assert "as User:broker" in out and "health       user kept (KAFKA_SASL_PASSWORD_HEALTH not set)" in out
    assert not any(secret in out for secret in ("p-secret", "o-secret", "broker-secret"))


def test_operators_show_prints_each_principals_grants_for_the_environment() -> None:
    printed = io.StringIO()
    with redirect_stdout(printed):
        operators_cli.cmd_operators_show(argparse.Namespace(topic_prefix="staging."))
    lines = printed.getvalue().splitlines()
    assert "User:broker super user (no ACL applies)" in lines
    assert "User:health no ACL: it may authenticate and nothing else" in lines
    assert "User:provisioner ALTER cluster kafka-cluster" in lines
    assert "User:operator READ topic prefix staging." in lines
    assert not any(line.startswith("User:provisioner READ") for line in lines)


# ---- no password on a command line, in a log or in an exception ---------------------------------

FAKE_JAVA = """#!/bin/bash
# A stand-in for the JDK launcher: says it is Java 17; otherwise records its command line and the
# argument file's mode, echoes the argument file (as a tool that repeats a bad argument would),
# and fails.
if [ "$1" = "-version" ]; then echo 'openjdk version "17.0.9" 2023-10-17' >&2; exit 0; fi
printf '%s\\n' "$@" > "$RECORD_DIR/argv"
for argument in "$@"; do
  case "$argument" in
    @*) stat -c %a "${argument#@}" > "$RECORD_DIR/mode"; echo "bad arguments:" >&2; cat "${argument#@}" >&2 ;;
  esac
done
exit 1
"""


def fake_jdk(tmp_path: Path) -> Path:
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(FAKE_JAVA)
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    return home


def fake_jars(tmp_path: Path) -> Path:
    """A jar cache that looks complete to ensure_kafka_jars (no Maven run)."""
    cache = tmp_path / "cache"
    home = cache / f"kafka-{kafka_version()}"
    (home / "libs").mkdir(parents=True)
    (home / "pom.sha256").write_text(hashlib.sha256(POM_PATH.read_bytes()).hexdigest() + "\n")
    return cache


def test_the_format_step_takes_its_passwords_from_an_owner_only_argument_file_and_redacts_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(fake_jdk(tmp_path)))
    monkeypatch.setenv("RECORD_DIR", str(tmp_path))
    security = BrokerSecurity("broker-Pa55word", "controller-Pa55word", "health-Pa55word")
    broker = KafkaBroker(tmp_path / "kafka", security=security, jars_cache_dir=fake_jars(tmp_path), cds=False)
    log = tmp_path / "kafka.log"

    with pytest.raises(RuntimeError, match="formatting the Kafka storage failed") as failed:
        broker.launch(log_path=log, timeout_s=30)

    argv = (tmp_path / "argv").read_text().splitlines()
    argument_file = tmp_path / "kafka" / "format.args"
    assert argv[-1] == f"@{argument_file}", "the command line names the file, not its contents"
    assert (tmp_path / "mode").read_text().strip() == "600", "only its owner could read it"
    assert not argument_file.exists(), "deleted after the run, though it failed"
    written = log.read_text()
    assert "--add-scram" in written and "<redacted>" in written, "the tool's output is kept, redacted"
    for secret in security.secrets():
        assert secret not in "\n".join(argv), "no password on the command line"
        assert secret not in str(failed.value), "nor in the exception"
        assert secret not in written, "nor in the broker's log"
    assert "name=broker,password=<redacted>" in str(failed.value)


def test_a_java_argument_file_keeps_each_argument_whole() -> None:
    text = java_argument_file(["kafka.tools.StorageTool", "a b", 'q"uote', "back\\slash", "#not-a-comment"])
    assert text.splitlines() == [
        '"kafka.tools.StorageTool"',
        '"a b"',
        '"q\\"uote"',
        '"back\\\\slash"',
        '"#not-a-comment"',
    ]
    assert text.endswith("\n")


def test_the_security_section_shows_each_principals_rights_as_the_code_derives_them() -> None:
    from tests.unit.test_security_docs import security_section

    section = security_section()
    assert "\n".join(operators.grants_table()) in section, "docs/kafka.md's table of the operator principals"
    for principal in PRINCIPALS:
        assert f"- **`{principal}`**" in section, f"{principal} is described"


def test_on_the_embedded_stack_the_cli_acts_as_the_operator_and_topics_ensure_as_the_provisioner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools.cli import connection

    store = SecurityStore(tmp_path / "security").ensure()
    stack = {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "SASL_PLAINTEXT",
        "security_dir": str(store.root),
    }
    monkeypatch.setattr(connection, "read_stack_file", lambda: stack)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    operator = connection.resolve(None, None).kafka
    assert (operator.username, operator.password) == (OPERATOR, store.password_of(OPERATOR))
    provisioner = connection.resolve(None, None, principal=PROVISIONER).kafka
    assert (provisioner.username, provisioner.password) == (PROVISIONER, store.password_of(PROVISIONER))
