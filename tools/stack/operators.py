"""The principals that run the programme rather than take part in it, and what each may do.

One Kafka principal per job, each with its own credential, so that each can be rotated or revoked
alone, every action on the cluster names who did it (the authorizer's log, the ACLs' owner), and a
leaked healthcheck or job credential cannot act as the operator. The names carry no dot: a
partner's principal always has one (`counties.500240`, from its source) and a service's is
`service.<name>`, so none of these can collide with them.

| principal | what for | how |
|---|---|---|
| `broker` | the brokers' own inter-broker login (replication, the brokers' requests to each other) | super user |
| `controller` | the KRaft controller listener (SASL/PLAIN; the controllers and the brokers reach it) | super user |
| `provisioner` | the topics and ACLs job: `expert-teams topics ensure`, `expert-teams acls sync` | ACLs below |
| `operator` | the CLI a person runs: `partners`, `dead-letters`, `follow`, `figures`, `send` | ACLs below |
| `health` | the brokers' healthchecks (and the embedded broker's readiness check) | no ACL at all |

Super users, and why only these two: a broker must replicate every partition, act on the cluster
(`ClusterAction`) and answer for the other brokers, whatever topics exist; Kafka's own answer is to
make the inter-broker principal a super user, and KRaft requires the controller listener's
principal to be one. Nothing else is: a super user is never checked against an ACL, so what it
does leaves no grant behind to review, and `acls sync` cannot take back what it never gave.

`provisioner` (the job): on the cluster, ALTER (create and delete ACLs, create and change the
services' SCRAM users) and DESCRIBE (read them);
on the environment's topics, CREATE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS (a topic's
retention, min ISR) and ALTER (add partitions). Nothing else: no READ or WRITE on any topic and no
consumer group, so the job's credential reads no event, personal data or amount, and writes none.

`operator` (a person, through the CLI): on the cluster, ALTER and DESCRIBE (onboard and revoke
partners: their SCRAM users and ACLs) and ALTER_CONFIGS and DESCRIBE_CONFIGS (client quotas per
partner); on the environment's topics, READ (follow, figures, dead letters, the partner key
registry), WRITE (send, replay a dead letter to its origin, register a partner's key on
`partners`), CREATE (per-partner topics) and DESCRIBE_CONFIGS (see a topic's drift); on the
environment's consumer groups, READ and DESCRIBE. No DELETE of topics or records, no change to a
topic's configs or partitions (the provisioner's), no CLUSTER_ACTION, no transactional ids.

`health` (the healthchecks): it only authenticates. `kafka-broker-api-versions.sh` sends a
Metadata request for the cluster's brokers and an ApiVersions request to each; ApiVersions needs
no ACL, and Metadata needs none either (it answers with the brokers, and with only the topics the
principal may describe: none). `tests/integration/test_operator_principals.py` checks on the real
broker that `health` passes the check and can neither read nor create nor even see a topic.

"The environment's topics and groups": every name starting with its `KAFKA_TOPIC_PREFIX`, as a
PREFIXED ACL; with no prefix (a cluster of its own), every name (the LITERAL `*` wildcard). The
operator's and provisioner's rights are not listed topic by topic because their commands reach
every topic of the environment, including those made later (per-partner topics).

Where Kafka makes two of them equivalent, plainly: ALTER on the cluster lets its holder create
any ACL, for itself too, and any SCRAM credential, so `provisioner` and `operator` could each give
themselves everything the other has, or reset the other's password; neither is a sandbox against
its own holder. What the separation still buys:
- each credential is rotated and revoked alone (a leaked job password is replaced without touching
  the operator's, and the other way round);
- a grant one of them gives itself is an ACL that `expert-teams acls list` shows, the authorizer
  logs, and the next `expert-teams operators bootstrap` deletes, where a super user's reach would
  leave no trace;
- the authorizer's log and every ACL name which of them acted: the job, the person, a healthcheck;
- a leaked `health` credential (it sits in every broker container) can do nothing but connect;
  a leaked job credential reads no event and cannot act as the operator without first granting
  itself, visibly; the brokers' own credential is in no job, CLI or test.

Who creates them: `broker` (and `health`, which the brokers' healthcheck needs before anything
else runs) are written into the brokers' storage when it is formatted (`kafka-storage format
--add-scram`, the only way a credential exists before the brokers talk to each other); the others
by `bootstrap` below, run once by a super user (the embedded launcher as `broker`; in compose the
one-shot `operators` job; on a cluster of your own its administrator), because the first ALTER on
the cluster can only come from a super user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .access_control import Grant, SyncReport, revoke_all, sync_grants, upsert_user

BROKER: Final = "broker"
"""The brokers' inter-broker principal (a super user)."""
CONTROLLER: Final = "controller"
"""The KRaft controller listener's principal (SASL/PLAIN; a super user)."""
PROVISIONER: Final = "provisioner"
"""The topics and ACLs job."""
OPERATOR: Final = "operator"
"""The person at the CLI."""
HEALTH: Final = "health"
"""The healthchecks: authenticates, may do nothing else."""

SUPER_USERS: Final = (BROKER, CONTROLLER)
GRANTED: Final = (PROVISIONER, OPERATOR, HEALTH)
"""The operator principals whose ACLs this module derives (created by `bootstrap`)."""
PRINCIPALS: Final = (*SUPER_USERS, *GRANTED)
FORMATTED: Final = (BROKER, HEALTH)
"""SCRAM users written into the brokers' storage when it is formatted."""
LEGACY: Final = ("admin",)
"""The one principal that did all of the above before (the embedded stack retires it)."""

CLUSTER: Final = "kafka-cluster"
"""The cluster resource's name in an ACL (librdkafka calls the resource type BROKER)."""


def password_variable(principal: str) -> str:
    """The environment variable that gives `bootstrap` a principal's password."""
    return f"KAFKA_SASL_PASSWORD_{principal.upper()}"


def environment_scope(prefix: str) -> tuple[str, bool]:
    """The ACL pattern of an environment: its prefix (PREFIXED), or every name (LITERAL `*`)."""
    return (prefix, True) if prefix else ("*", False)


def _on_environment(user: str, resource: str, prefix: str, operations: Iterable[str]) -> set[Grant]:
    name, prefixed = environment_scope(prefix)
    return {Grant(user, resource, name, op, prefixed=prefixed) for op in operations}


def _on_cluster(user: str, operations: Iterable[str]) -> set[Grant]:
    return {Grant(user, "CLUSTER", CLUSTER, op) for op in operations}


def provisioner_grants(prefix: str = "") -> set[Grant]:
    user = f"User:{PROVISIONER}"
    return _on_cluster(user, ("ALTER", "DESCRIBE")) | _on_environment(
        user, "TOPIC", prefix, ("CREATE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "ALTER")
    )


def operator_grants(prefix: str = "") -> set[Grant]:
    user = f"User:{OPERATOR}"
    return (
        _on_cluster(user, ("ALTER", "DESCRIBE", "ALTER_CONFIGS", "DESCRIBE_CONFIGS"))
        | _on_environment(user, "TOPIC", prefix, ("READ", "WRITE", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS"))
        | _on_environment(user, "GROUP", prefix, ("READ", "DESCRIBE"))
    )


def health_grants(prefix: str = "") -> set[Grant]:
    return set()


GRANTS: Final[Mapping[str, Callable[[str], set[Grant]]]] = {
    PROVISIONER: provisioner_grants,
    OPERATOR: operator_grants,
    HEALTH: health_grants,
}


def grants_of(principal: str, prefix: str = "") -> set[Grant]:
    if principal not in GRANTS:
        raise ValueError(f"{principal!r} is not an operator principal with grants ({', '.join(GRANTS)})")
    return GRANTS[principal](prefix)


def managed_names(prefix: str = "") -> set[str]:
    """The names the operator principals' ACLs may name in one environment: what a sync may delete."""
    return {environment_scope(prefix)[0], CLUSTER}


def _shown(operations: Iterable[str]) -> str:
    names = sorted("".join(part.title() for part in op.split("_")) for op in operations)
    return ", ".join(names) or "—"


def grants_table(prefix: str = "") -> list[str]:
    """The principals and their rights as a Markdown table (docs/kafka.md, "Security", shows it)."""
    rows = [
        "| principal | on the cluster | on the environment's topics | on its consumer groups |",
        "|---|---|---|---|",
    ]
    rows += [f"| `User:{name}` | super user | super user | super user |" for name in SUPER_USERS]
    for principal in GRANTED:
        grants = grants_of(principal, prefix)
        on = {kind: _shown(g.operation for g in grants if g.resource == kind) for kind in ("CLUSTER", "TOPIC", "GROUP")}
        rows.append(f"| `User:{principal}` | {on['CLUSTER']} | {on['TOPIC']} | {on['GROUP']} |")
    return rows


# ---- reading the grants as Kafka's authorizer does (for tests and the docs; the broker decides) ----

IMPLIED_BY: Final[Mapping[str, frozenset[str]]] = {
    "DESCRIBE": frozenset({"DESCRIBE", "READ", "WRITE", "DELETE", "ALTER"}),
    "DESCRIBE_CONFIGS": frozenset({"DESCRIBE_CONFIGS", "ALTER_CONFIGS"}),
}
"""The granted operations that also allow the one named (Kafka's rule: READ, WRITE, DELETE or ALTER
imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS); ALL allows everything."""


def permits(grants: Iterable[Grant], principal: str, resource: str, name: str, operation: str) -> bool:
    """Whether ALLOW `grants` let `principal` do `operation` on the resource `name` (no DENY ACLs
    exist in this programme; super users are not handled here)."""
    allowing = IMPLIED_BY.get(operation, frozenset({operation})) | {"ALL"}
    for grant in grants:
        if grant.principal != f"User:{principal}" or grant.resource != resource or grant.operation not in allowing:
            continue
        if grant.prefixed and name.startswith(grant.name):
            return True
        if not grant.prefixed and grant.name in ("*", name):
            return True
    return False


# ---- applying to the broker (as a super user) -------------------------------------------------


@dataclass(frozen=True)
class BootstrapReport:
    users: list[str]
    """The SCRAM users created or given a new password."""
    grants: list[SyncReport]


def bootstrap(admin: Any, passwords: Mapping[str, str], prefix: str = "") -> BootstrapReport:
    """Create (or change the password of) each operator principal whose password is given, then
    make the ACLs of `provisioner`, `operator` and `health` exactly what this module derives for the
    environment `prefix` (`health`'s: none, whatever names they were on). Run as a super user the
    first time (nobody else holds ALTER on the cluster yet); again, by anyone holding it."""
    unknown = sorted(set(passwords) - set(GRANTED))
    if unknown:
        raise ValueError(f"not an operator principal bootstrap creates: {', '.join(unknown)}")
    users = []
    for principal in GRANTED:
        password = passwords.get(principal)
        if password:
            upsert_user(admin, principal, password)
            users.append(principal)
    reports = []
    for principal in (PROVISIONER, OPERATOR):
        reports.append(sync_grants(admin, f"User:{principal}", grants_of(principal, prefix), managed_names(prefix)))
    reports.append(SyncReport(f"User:{HEALTH}", [], revoke_all(admin, f"User:{HEALTH}")))
    return BootstrapReport(users, reports)
