"""The compose file describes a stack that can run: every service, the variables it really
reads, healthchecks and start order, and Kafka that authenticates and authorizes everyone as
production does (each service its own principal, the jobs first, each principal that runs the
programme with its own password, none of them on a command line)."""

from __future__ import annotations

import re

from services.catalog import DEFINITIONS
from tests.unit.deploy_files import ROOT, compose, variables_read_by_services
from tools.stack.access_control import service_principal
from tools.stack.operators import BROKER, HEALTH, OPERATOR, PROVISIONER, SUPER_USERS

BROKERS = ("kafka-1", "kafka-2", "kafka-3")
EXAMPLE_ENV = ROOT / "deploy" / "compose" / "credentials.example.env"
BROKER_PASSWORD = "EXPERT_TEAMS_KAFKA_BROKER_PASSWORD"
HEALTH_PASSWORD = "EXPERT_TEAMS_KAFKA_HEALTH_PASSWORD"
PROVISIONER_PASSWORD = "EXPERT_TEAMS_KAFKA_PROVISIONER_PASSWORD"
OPERATOR_PASSWORD = "EXPERT_TEAMS_KAFKA_OPERATOR_PASSWORD"


def interpolated(value: str) -> str:
    """The name of the variable a `${NAME:?message}` value takes from `.env`."""
    match = re.fullmatch(r"\$\{([A-Z][A-Z0-9_]*)(?::\?[^}]*)?\}", value)
    assert match, f"{value!r} is not a ${{VARIABLE}} from .env"
    return match.group(1)


def test_every_built_service_runs_in_compose_on_three_apache_kafka_nodes_and_postgres() -> None:
    services = compose()["services"]
    voters = services["kafka-1"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    for number, name in enumerate(BROKERS, start=1):
        broker = services[name]
        env = broker["environment"]
        assert broker["image"].startswith("apache/kafka:4.")
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert env["KAFKA_NODE_ID"] == number
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"BROKER://{name}:9092"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == voters
        assert f"{number}@{name}:9093" in voters
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
        assert broker["volumes"] == [f"{name}:/var/lib/kafka/data"], "each node keeps its data in its own volume"
    topics = services["topics"]["command"]
    assert dict(zip(topics[3::2], topics[4::2], strict=True)) == {
        "--partitions": "6",
        "--replication-factor": "3",
        "--min-insync-replicas": "2",
    }
    for definition in DEFINITIONS:
        service = services[definition.name]
        assert service["command"] == ["python", "-m", f"services.{definition.name}"]
        assert service["environment"]["DATABASE_URL"].endswith(f"/expert_teams_{definition.name}")


def test_each_service_gets_only_variables_it_reads_and_all_it_needs() -> None:
    services = compose()["services"]
    known = variables_read_by_services()
    for definition in DEFINITIONS:
        env = services[definition.name]["environment"]
        assert set(env) <= known, f"{definition.name} sets variables nobody reads: {set(env) - known}"
        assert {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"} <= set(env)


def test_services_wait_for_healthy_dependencies_and_have_healthchecks() -> None:
    services = compose()["services"]
    for name in (*BROKERS, "postgres"):
        assert services[name]["healthcheck"]["test"]
    assert services["topics"]["command"][:3] == ["expert-teams", "topics", "ensure"]
    for definition in DEFINITIONS:
        service = services[definition.name]
        assert "/health/ready" in " ".join(service["healthcheck"]["test"])
        for broker in BROKERS:
            assert service["depends_on"][broker]["condition"] == "service_healthy"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["acls"]["condition"] == "service_completed_successfully"


def test_every_broker_listener_authenticates_and_nothing_is_allowed_without_an_acl() -> None:
    services = compose()["services"]
    for name in BROKERS:
        env = services[name]["environment"]
        protocols = dict(pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert set(protocols.values()) == {"SASL_PLAINTEXT"}, f"{name}: no listener without authentication"
        listeners = {item.split("://")[0] for item in env["KAFKA_LISTENERS"].split(",")}
        assert listeners == set(protocols), name
        assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
        assert env["KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL"] == "SCRAM-SHA-512"
        assert env["KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL"] == "PLAIN", "KRaft takes no SCRAM on the controller"
        assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
        assert set(env["KAFKA_SUPER_USERS"].split(";")) == {f"User:{name}" for name in SUPER_USERS}
        assert set(SUPER_USERS) == {BROKER, "controller"}, "the brokers and the controllers only"
        assert env["KAFKA_CONNECTIONS_MAX_REAUTH_MS"] == 15 * 60 * 1000


def test_the_brokers_and_healthcheck_credentials_are_formatted_in_from_an_argument_file_not_a_command_line() -> None:
    services = compose()["services"]
    for name in BROKERS:
        broker = services[name]
        script = broker["command"][-1]
        lines = script.splitlines()
        (printed,) = [
            i for i, line in enumerate(lines) if line.startswith("printf '\"%s\"\\n' kafka.tools.StorageTool")
        ]
        writes_argument_file = " ".join(lines[printed : printed + 3])
        assert "format --ignore-formatted" in writes_argument_file, name
        for user, variable in ((BROKER, BROKER_PASSWORD), (HEALTH, HEALTH_PASSWORD)):
            assert f'--add-scram "SCRAM-SHA-512=[name={user},password=$${variable}]"' in writes_argument_file, name
        assert writes_argument_file.endswith('> "$$args"'), f"{name}: printf (a builtin) writes them to the file"
        assert "umask 077" in lines and 'trap \'rm -f "$$conf" "$$args"\' EXIT' in lines, f"{name}: owner-only, deleted"
        (runs,) = [line for line in lines if "kafka-run-class.sh" in line]
        assert runs == 'KAFKA_OPTS=-XX:-UsePerfData /opt/kafka/bin/kafka-run-class.sh "@$$args"', name
        assert 'rm -f "$$conf" "$$args"' in lines[lines.index(runs) + 1], f"{name}: the file goes after the run"
        password_lines = [line for line in lines if "PASSWORD" in line]
        assert all(
            line.lstrip().startswith(("printf", "--add-scram", '"sasl.jaas.config')) for line in password_lines
        ), f"{name}: a password is only ever printed into a file by the shell"
        assert "kafka-storage.sh" not in script, f"{name}: not the script, whose arguments are a command line"
        assert script.rstrip().endswith("exec /etc/kafka/docker/run"), f"{name}: then the image's own start"
        env = broker["environment"]
        assert interpolated(env[BROKER_PASSWORD]) == BROKER_PASSWORD
        assert interpolated(env[HEALTH_PASSWORD]) == HEALTH_PASSWORD
        jaas = env["KAFKA_LISTENER_NAME_BROKER_SCRAM___SHA___512_SASL_JAAS_CONFIG"]
        assert 'username="broker"' in jaas and "${" + BROKER_PASSWORD + ":?" in jaas, "brokers replicate as broker"
        assert not {PROVISIONER_PASSWORD, OPERATOR_PASSWORD} & set(env), f"{name} needs neither job's password"


def test_the_brokers_healthcheck_logs_in_as_health_from_a_file() -> None:
    services = compose()["services"]
    for name in BROKERS:
        test = services[name]["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL" and "kafka-broker-api-versions.sh" in test[1], name
        assert "--command-config /tmp/health.properties" in test[1] and "PASSWORD" not in test[1], name
        script = services[name]["command"][-1]
        assert f'username=\\"{HEALTH}\\" password=\\"$${HEALTH_PASSWORD}\\"' in script, name
        assert "> /tmp/health.properties" in script and "umask 077" in script, name


def test_each_service_is_its_own_principal_and_the_acls_job_creates_it_with_the_same_password() -> None:
    services = compose()["services"]
    acls = services["acls"]
    for definition in DEFINITIONS:
        env = services[definition.name]["environment"]
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert env["KAFKA_SASL_USERNAME"] == service_principal(definition.name)
        assert env["KAFKA_MANAGE_TOPICS"] == "false", "a service principal may not create topics"
        variable = f"KAFKA_SASL_PASSWORD_{definition.name.upper()}"
        assert interpolated(env["KAFKA_SASL_PASSWORD"]) == variable
        assert interpolated(acls["environment"][variable]) == variable
    assert acls["command"] == ["expert-teams", "acls", "sync"]
    assert acls["depends_on"] == {"topics": {"condition": "service_completed_successfully"}}
    assert services["topics"]["depends_on"] == {"operators": {"condition": "service_completed_successfully"}}
    for job, user, variable in (
        ("topics", PROVISIONER, PROVISIONER_PASSWORD),
        ("acls", PROVISIONER, PROVISIONER_PASSWORD),
        ("cli", OPERATOR, OPERATOR_PASSWORD),
        ("e2e-tests", OPERATOR, OPERATOR_PASSWORD),
    ):
        env = services[job]["environment"]
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert env["KAFKA_SASL_USERNAME"] == user, f"{job} runs as {user}"
        assert interpolated(env["KAFKA_SASL_PASSWORD"]) == variable
        assert BROKER_PASSWORD not in str(env), f"{job} never sees the brokers' password"
    assert services["cli"]["profiles"] == ["cli"], "the operator's CLI runs on demand only"


def test_the_operators_job_makes_the_provisioner_and_operator_as_the_brokers_super_user_first() -> None:
    services = compose()["services"]
    job = services["operators"]
    assert job["command"] == ["expert-teams", "operators", "bootstrap"]
    env = job["environment"]
    assert env["KAFKA_SASL_USERNAME"] == BROKER and interpolated(env["KAFKA_SASL_PASSWORD"]) == BROKER_PASSWORD
    assert interpolated(env["KAFKA_SASL_PASSWORD_PROVISIONER"]) == PROVISIONER_PASSWORD
    assert interpolated(env["KAFKA_SASL_PASSWORD_OPERATOR"]) == OPERATOR_PASSWORD
    assert interpolated(env["KAFKA_SASL_PASSWORD_HEALTH"]) == HEALTH_PASSWORD, "so that rotating it works"
    assert {b: {"condition": "service_healthy"} for b in BROKERS} == job["depends_on"]
    assert job["restart"] == "no"
    holders = {name for name, service in services.items() if BROKER_PASSWORD in str(service.get("environment", {}))}
    assert holders == {*BROKERS, "operators"}, "the brokers' password is in the brokers and the bootstrap job only"


def test_every_password_comes_from_the_env_file_whose_example_values_say_they_are_examples() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text))
    example = dict(
        line.split("=", 1) for line in EXAMPLE_ENV.read_text(encoding="utf-8").splitlines() if line and line[0] != "#"
    )
    assert used == set(example), "every ${VARIABLE} compose takes from .env is in the example, and no other"
    assert all(value.startswith("EXAMPLE-") for value in example.values())
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", value) for value in example.values()), "safe in JAAS and --add-scram"
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
