"""docker-compose.yml parses, and every variable it reads is documented.

docker-compose 1.29 (Debian's package) validates the file against the
compose schema and resolves it without a Docker engine, which is all that
can run on a machine without one.
"""

import re
import shutil
import subprocess

import pytest
import yaml

from .conftest import REPO_DIR, require_tool

COMPOSE_FILE = REPO_DIR / "docker-compose.yml"
ENV_EXAMPLE = REPO_DIR / "deploy" / "compose.env.example"
CONFIGURATION_DOC = REPO_DIR / "docs" / "configuration.md"
PLATFORM_SERVICES = ("migrate", "web", "worker", "beat")
LONG_RUNNING_SERVICES = ("web", "worker", "beat", "redis", "postgres")
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)")


def example_settings() -> dict[str, str]:
    settings = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            settings[name.strip()] = value
    return settings


def run_compose_config(tmp_path, env_lines: list[str]) -> subprocess.CompletedProcess:
    """Run `docker-compose config` on a copy of the file with the given .env."""
    compose = require_tool("docker-compose", "docker-compose")
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text("\n".join(env_lines) + "\n")
    return subprocess.run(
        [compose, "--project-directory", str(tmp_path), "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """The compose file as docker-compose resolves it with the example's values."""
    tmp_path = tmp_path_factory.mktemp("compose")
    lines = ENV_EXAMPLE.read_text().splitlines()
    lines += ["LABPLATFORM_SECRET_KEY=test-secret", "POSTGRES_PASSWORD=test-password"]
    result = run_compose_config(tmp_path, lines)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_defines_every_service(resolved):
    assert set(resolved["services"]) == {*PLATFORM_SERVICES, "redis", "postgres"}


def test_long_running_services_have_health_checks(resolved):
    for name in LONG_RUNNING_SERVICES:
        service = resolved["services"][name]
        assert "healthcheck" in service, name
        assert service["healthcheck"]["test"][0] == "CMD", name
        assert service["restart"] == "unless-stopped", name


def test_platform_waits_for_healthy_dependencies(resolved):
    services = resolved["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == (
        "service_healthy"
    )
    for name in ("web", "worker", "beat"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        assert depends_on["redis"]["condition"] == "service_healthy"


def test_platform_containers_are_locked_down(resolved):
    for name in PLATFORM_SERVICES:
        service = resolved["services"][name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert any(mount.startswith("/tmp") for mount in service["tmpfs"]), name


def test_state_lives_in_named_volumes(resolved):
    assert set(resolved["volumes"]) == {"platform-data", "redis-data", "postgres-data"}
    services = resolved["services"]
    assert (
        "postgres-data:/var/lib/postgresql/data:rw" in services["postgres"]["volumes"]
    )
    assert "redis-data:/data:rw" in services["redis"]["volumes"]
    for name in PLATFORM_SERVICES:
        assert "platform-data:/var/lib/labplatform:rw" in services[name]["volumes"]


def test_platform_uses_compose_services(resolved):
    environment = resolved["services"]["web"]["environment"]
    assert environment["LABPLATFORM_DATABASE_URL"] == (
        "postgres://labplatform:test-password@postgres:5432/labplatform"
    )
    assert environment["LABPLATFORM_REDIS_URL"] == "redis://redis:6379/0"
    assert environment["LABPLATFORM_SECRET_KEY"] == "test-secret"
    assert environment["LABPLATFORM_TERMINAL_BACKEND"] == "exec"


def test_web_reaches_cluster_network(resolved):
    assert set(resolved["services"]["web"]["networks"]) == {"default", "cluster"}
    assert set(resolved["services"]["worker"]["networks"]) == {"default", "cluster"}
    assert resolved["networks"]["cluster"] == {
        "external": True,
        "name": "labplatform-cluster",
    }


def test_web_published_on_loopback_by_default(resolved):
    ports = resolved["services"]["web"]["ports"]
    assert ports == [
        {
            "mode": "ingress",
            "host_ip": "127.0.0.1",
            "target": 8000,
            "published": 8000,
            "protocol": "tcp",
        }
    ] or ports == ["127.0.0.1:8000:8000/tcp"]


def test_missing_secret_key_fails_with_hint(tmp_path):
    lines = ENV_EXAMPLE.read_text().splitlines()
    result = run_compose_config(tmp_path, [*lines, "POSTGRES_PASSWORD=x"])

    assert result.returncode != 0
    assert "set LABPLATFORM_SECRET_KEY in .env" in result.stderr


def test_every_variable_is_in_env_example():
    lines = COMPOSE_FILE.read_text().splitlines()
    code = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    used = set(VARIABLE.findall(code))
    documented = set(example_settings())

    assert used, "the compose file reads no variables"
    assert used - documented == set()
    assert documented - used == set()


def test_every_env_example_variable_is_documented():
    documentation = CONFIGURATION_DOC.read_text()
    for name in example_settings():
        assert f"`{name}`" in documentation, name
