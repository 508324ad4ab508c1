"""docker-compose.yml's contract, checked without Docker: services, probes, commands, settings.

Docker does not run on the build machines, so this reads the files the way
Compose and the hub would: every hub command is a real ``hub`` subcommand with
real options, every probe is there, every ``${VAR}`` is documented in
``.env.example``, and the compose ``hub.yaml`` loads with just those variables.
"""

from __future__ import annotations

import re
from typing import Any

import click
import pytest
import yaml

from hub.cli import main
from hub.config import load_config
from tests.helpers import ROOT

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
HUB_SERVICES = {"hub-serve": "serve", "hub-worker": "worker", "hub-scheduler": "scheduler"}
COMPOSE_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")
HUB_ENV_REF = re.compile(r"\$\{env:([A-Za-z0-9_]+)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def documented() -> set[str]:
    """Variables .env.example names, set or commented out (``NAME=`` / ``# NAME=``)."""
    return set(re.findall(r"^#?\s*([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))


def test_the_five_services_and_their_probes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {*HUB_SERVICES, "postgres", "redis"}
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    probe = " ".join(services["hub-serve"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8080/readyz" in probe and ".status != 200" in probe
    for name in HUB_SERVICES:
        assert services[name]["restart"] == "unless-stopped", name


def test_hub_services_run_real_subcommands_with_real_options(compose: dict[str, Any]) -> None:
    ctx = click.Context(main)
    for name, subcommand in HUB_SERVICES.items():
        argv = compose["services"][name]["command"]
        assert argv[0] == subcommand, name
        command = main.get_command(ctx, argv[0])
        assert command is not None, f"{name}: hub has no {argv[0]!r} command"
        known = {opt for param in command.params for opt in getattr(param, "opts", [])}
        used = {arg for arg in argv[1:] if arg.startswith("--")}
        assert used <= known, f"{name}: hub {argv[0]} has no {sorted(used - known)}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["hub"]' in dockerfile


def test_start_order_waits_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in HUB_SERVICES:
        needs = services[name]["depends_on"]
        assert {"postgres", "redis"} <= set(needs), name
        assert all(dep["condition"] == "service_healthy" for dep in needs.values()), name
        assert "healthcheck" in services[name] or "hub-serve" in needs, name


def test_state_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    assert declared == {"postgres-data", "redis-data", "hub-data"}
    mounts = {
        name: [v.split(":")[0] for v in service.get("volumes", [])]
        for name, service in compose["services"].items()
    }
    assert "postgres-data" in mounts["postgres"] and "redis-data" in mounts["redis"]
    assert all("hub-data" in mounts[name] for name in HUB_SERVICES)


def test_every_variable_is_documented_in_env_example(compose: dict[str, Any]) -> None:
    used = set(COMPOSE_VAR.findall(COMPOSE.read_text()))
    assert {"POSTGRES_PASSWORD", "HUB_SECRET_KEY"} <= used
    assert used <= documented(), f"not in .env.example: {sorted(used - documented())}"


def test_the_compose_hub_yaml_loads_from_the_containers_environment(
    compose: dict[str, Any],
) -> None:
    service = compose["services"]["hub-serve"]
    environment: dict[str, str] = service["environment"]
    mount = next(v for v in service["volumes"] if v.endswith(":/etc/hub/hub.yaml:ro"))
    default = re.fullmatch(
        r"\$\{HUB_CONFIG_FILE:-(.+)\}", mount.removesuffix(":/etc/hub/hub.yaml:ro")
    )
    assert default is not None, mount
    source = (ROOT / default.group(1)).resolve()
    assert source == ROOT / "deploy" / "hub.compose.yaml"
    settings = [
        line for line in source.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    needed = set(HUB_ENV_REF.findall("\n".join(settings)))
    assert needed <= set(environment), f"hub.yaml reads {sorted(needed - set(environment))}"

    config = load_config(
        source, env={"POSTGRES_USER": "hub", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "hub"}
    )
    assert config.engine == "celery"
    assert config.store_url() == "postgresql+psycopg://hub:pw@postgres:5432/hub"
    assert config.celery.broker_url.startswith("redis://redis:6379/")
    assert config.host_port() == ("0.0.0.0", 8080)
    assert config.retention.events_days == 30
