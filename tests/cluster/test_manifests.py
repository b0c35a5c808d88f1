"""Manifests and names as plain data, without a cluster."""

from datetime import UTC, datetime

from labplatform.cluster import manifests
from labplatform.cluster.names import make_namespace_name

LABELS = manifests.make_platform_labels(session_id="s1", lab_slug="lab", learner_id=7)


def test_names_distinct_and_valid():
    usernames = ["Test.User", "test-user", "test_user", "-test", "TÉST", "x" * 70]
    names = [
        make_namespace_name(
            username=username,
            lab_slug="pod-security-standards",
            session_key=f"session-{index}",
        )
        for index, username in enumerate(usernames)
    ]

    assert len(set(names)) == len(names)
    for name in names:
        assert len(name) <= 63
        assert name == name.lower()
        assert name[0].isalpha()
        assert name[-1].isalnum()
        assert all(ch.isalnum() or ch == "-" for ch in name)
        assert "--" not in name


def test_name_stable_for_same_session():
    first = make_namespace_name(username="ada", lab_slug="lab", session_key="abc")
    second = make_namespace_name(username="ada", lab_slug="lab", session_key="abc")

    assert first == second


def test_non_ascii_username_keeps_letters():
    name = make_namespace_name(username="TÉST", lab_slug="lab", session_key="k")

    assert name.startswith("lab-test-lab-")


def test_namespace_carries_labels_and_expiry():
    expires = datetime(2026, 1, 1, tzinfo=UTC)

    namespace = manifests.make_namespace(
        name="ns",
        labels=LABELS,
        lab_labels={"pod-security.kubernetes.io/enforce": "privileged"},
        expires_at=expires,
        learner_name="Ada",
    )

    assert (
        namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "labplatform"
    )
    assert (
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "privileged"
    )
    assert (
        namespace["metadata"]["annotations"]["labplatform.io/expires-at"]
        == expires.isoformat()
    )


def test_lab_labels_cannot_override_platform_labels():
    namespace = manifests.make_namespace(
        name="ns",
        labels=LABELS,
        lab_labels={"labplatform.io/session": "forged"},
        expires_at=datetime(2026, 1, 1, tzinfo=UTC),
        learner_name="Ada",
    )

    assert namespace["metadata"]["labels"]["labplatform.io/session"] == "s1"


def test_cluster_role_pins_one_namespace():
    role = manifests.make_namespace_cluster_role(
        namespace="ns", labels=LABELS, can_label=True, owner_uid="uid-1"
    )

    rule = role["rules"][0]
    assert rule["resourceNames"] == ["ns"]
    assert set(rule["verbs"]) == {"get", "watch", "patch", "update"}
    assert role["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_cluster_role_read_only_without_label_right():
    role = manifests.make_namespace_cluster_role(
        namespace="ns", labels=LABELS, can_label=False, owner_uid="uid-1"
    )

    assert set(role["rules"][0]["verbs"]) == {"get", "watch"}


def test_learner_role_grants_no_escalation():
    role = manifests.make_role(namespace="ns", labels=LABELS)

    resources = {resource for rule in role["rules"] for resource in rule["resources"]}
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert "secrets" not in resources
    assert "roles" not in resources
    assert "rolebindings" not in resources
    assert "serviceaccounts/token" not in resources
    assert not verbs & {"bind", "escalate", "impersonate", "*"}


def test_default_deny_selects_every_pod():
    policy = manifests.make_default_deny_network_policy(namespace="ns", labels=LABELS)

    assert policy["spec"]["podSelector"] == {}
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}


def test_service_accounts_do_not_automount():
    assert (
        manifests.make_service_account(namespace="ns", labels=LABELS)[
            "automountServiceAccountToken"
        ]
        is False
    )
    assert (
        manifests.make_default_service_account(namespace="ns", labels=LABELS)[
            "automountServiceAccountToken"
        ]
        is False
    )


def test_starting_resource_lands_in_namespace():
    placed = manifests.place_in_namespace(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "elsewhere", "labels": {"app": "x"}},
        },
        namespace="ns",
        labels=LABELS,
    )

    assert placed["metadata"]["namespace"] == "ns"
    assert placed["metadata"]["labels"]["app"] == "x"
    assert placed["metadata"]["labels"]["labplatform.io/session"] == "s1"
