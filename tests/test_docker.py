"""docker-compose.yml and the build context: a valid Compose file that a new user can run as documented.

The Compose file is checked against the Compose Specification's own JSON Schema, vendored under
tests/data/compose-spec/ (Apache-2.0, see its README) so the test never touches the network.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json"
COMPOSE = ROOT / "docker-compose.yml"
API_PORT = 8080
REPLICAS = 3  # what the file's own example runs: --scale newsbot=3


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_the_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    problems = [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in Draft7Validator(schema).iter_errors(compose)
    ]
    assert problems == []


def test_the_vendored_schema_keeps_its_license_beside_it() -> None:
    folder = SCHEMA.parent
    assert "Apache License" in (folder / "LICENSE").read_text(encoding="utf-8")
    assert "Compose Specification" in (folder / "NOTICE").read_text(encoding="utf-8")


def test_the_stated_compose_version_covers_an_optional_env_file(compose: dict[str, Any]) -> None:
    env_files = compose["services"]["newsbot"]["env_file"]
    assert any(isinstance(f, dict) and f.get("required") is False for f in env_files)
    # `required: false` on env_file needs Compose 2.24: the file must not promise less.
    header = COMPOSE.read_text(encoding="utf-8").split("services:")[0]
    assert re.search(r"Compose 2\.24 or newer", header)


def test_an_unconfigured_bot_does_not_restart_forever(compose: dict[str, Any]) -> None:
    # newsbot exits 2 on a configuration problem; only a bounded on-failure policy stops retrying it.
    policy = compose["services"]["newsbot"]["restart"]
    assert re.fullmatch(r"on-failure:\d+", policy), policy


def _published(compose: dict[str, Any], target: int) -> list[str]:
    return [str(p) for p in compose["services"]["newsbot"]["ports"] if str(p).endswith(f":{target}")]


def test_metrics_and_the_api_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    mappings = _published(compose, API_PORT)
    assert mappings
    assert all(m.startswith("127.0.0.1:") for m in mappings), mappings


def test_the_postgres_profile_scales_to_several_replicas(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["profiles"] == ["postgres"]
    assert "healthcheck" in services["postgres"]
    wait = services["newsbot"]["depends_on"]["postgres"]
    assert wait == {"condition": "service_healthy", "required": False}
    # Each replica needs a host port of its own for every published port.
    for mapping in services["newsbot"]["ports"]:
        host_part = str(mapping).rsplit(":", 1)[0].split(":")[-1]
        first, _, last = host_part.partition("-")
        assert last, f"{mapping}: a single host port cannot be shared by {REPLICAS} replicas"
        assert int(last) - int(first) + 1 >= REPLICAS
    assert "--scale newsbot=3" in COMPOSE.read_text(encoding="utf-8")


def _ignored(path: str, patterns: list[str]) -> bool:
    # The subset of .dockerignore's rules this file uses: globs, "**/", and "!" exceptions, last wins.
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.removeprefix("!").removeprefix("**/")
        parts = path.split("/")
        hit = any(
            fnmatch.fnmatch("/".join(parts[: i + 1]), glob) or fnmatch.fnmatch(part, glob)
            for i, part in enumerate(parts)
        )
        if hit:
            verdict = not negate
    return verdict


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        (".venv/lib/python3.11/site-packages/x.py", True),
        (".git/HEAD", True),
        ("var/newsbot.db", True),
        (".env", True),
        ("bot/__pycache__/app.cpython-311.pyc", True),
        (".mypy_cache/3.11/x.json", True),
        ("bot/app.py", False),
        ("config/newsbot.toml", False),
        ("config/.env.example", False),
        ("examples/us-taiwan-dialogue.yaml", False),
        ("pyproject.toml", False),
        ("README.md", False),
    ],
)
def test_the_build_context_leaves_out_the_venv_data_and_secrets(path: str, ignored: bool) -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert _ignored(path, patterns) is ignored
