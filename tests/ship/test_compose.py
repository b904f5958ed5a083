"""``docker-compose.yml`` and ``.env.example``: the compose file is valid YAML that builds our Dockerfile,
restarts the bot unless stopped, bounds CPU and memory, checks health the way the image does, keeps the
ledger on a named volume at the image's data path, mounts the TOML read-only where the image looks for
it, and takes secrets from ``.env`` — whose example lists every secret the settings read, with no value,
and yields a valid configuration once the operator fills it in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from arbtui.config import SECRET_ENVIRONMENT, ConfigError, load_settings
from tests.ship.dockerfile import Stage, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def service(document: dict[str, Any]) -> dict[str, Any]:
    services = document["services"]
    assert list(services) == ["arbtui"], "one service, named as in `docker compose run --rm arbtui run`"
    found: dict[str, Any] = services["arbtui"]
    return found


@pytest.fixture(scope="module")
def runtime() -> Stage:
    return load(ROOT / "Dockerfile").stages[-1]


def test_builds_the_repositorys_dockerfile(service: dict[str, Any]) -> None:
    build = service["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == (ROOT / "Dockerfile").resolve()


def test_restarts_unless_stopped_within_cpu_and_memory_limits(service: dict[str, Any]) -> None:
    assert service["restart"] == "unless-stopped"
    limits = service["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) > 0
    assert str(limits["memory"])[:-1].isdigit()
    assert str(limits["memory"])[-1] in "KMG"


def test_healthcheck_is_the_images_own(service: dict[str, Any], runtime: Stage) -> None:
    health = runtime.last("HEALTHCHECK")
    assert health is not None
    assert health.exec_form is not None
    assert service["healthcheck"]["test"] == ["CMD", *health.exec_form]


def test_ledger_on_a_named_volume_at_the_images_data_path(
    document: dict[str, Any], service: dict[str, Any], runtime: Stage
) -> None:
    image_volume = runtime.last("VOLUME")
    assert image_volume is not None
    assert image_volume.exec_form is not None
    (data,) = image_volume.exec_form
    mounts = {m["target"]: m for m in service["volumes"]}
    assert mounts[data]["type"] == "volume"
    assert mounts[data]["source"] in (document.get("volumes") or {})
    assert service["environment"]["ARBTUI_DATABASE_PATH"].startswith(data + "/")


def test_config_file_mounted_read_only_where_the_image_reads_it(service: dict[str, Any], runtime: Stage) -> None:
    config = runtime.env()["ARBTUI_CONFIG"]
    assert service["environment"]["ARBTUI_CONFIG"] == config
    mounts = {m["target"]: m for m in service["volumes"]}
    assert mounts[config]["type"] == "bind"
    assert mounts[config]["read_only"] is True


def test_environment_agrees_with_the_image(service: dict[str, Any], runtime: Stage) -> None:
    image = runtime.env()
    for key, value in service["environment"].items():
        if key in image:
            assert str(value) == image[key], key


def test_secrets_come_from_the_env_file_only(service: dict[str, Any]) -> None:
    assert service["env_file"] == ".env"
    assert not set(service["environment"]) & set(SECRET_ENVIRONMENT.values()), "a secret in the compose file"


def _env_example() -> tuple[dict[str, str], set[str]]:
    """``KEY=value`` lines of ``.env.example``, and the keys of its commented-out ``# KEY=`` lines."""
    active: dict[str, str] = {}
    commented: set[str] = set()
    for raw in (ROOT / ".env.example").read_text().splitlines():
        line = raw.strip()
        body = line.removeprefix("#").strip()
        if not body.startswith("ARBTUI_") or "=" not in body:
            continue
        key, _, value = body.partition("=")
        if line.startswith("#"):
            commented.add(key)
        else:
            active[key] = value
    return active, commented


def test_env_example_lists_every_secret_and_holds_none() -> None:
    active, commented = _env_example()
    assert set(active) | commented == set(SECRET_ENVIRONMENT.values())
    assert all(value == "" for value in active.values()), "a value in .env.example"


def test_env_example_filled_in_gives_a_valid_container_configuration(service: dict[str, Any]) -> None:
    active, _ = _env_example()
    example = ROOT / "arbtui.example.toml"
    environment = {**service["environment"]}
    with pytest.raises(ConfigError, match="is empty"):
        load_settings(example, {**environment, **active})  # as copied: the operator must fill it in
    filled = {key: "operator-secret-" + key.lower() for key in active}
    settings = load_settings(example, {**environment, **filled})
    assert settings.api.allow_remote
    assert settings.api.listen == "0.0.0.0:8080"
