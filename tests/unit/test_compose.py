"""docker-compose.yml describes the stack profile's topology (ARCHITECTURE §3), checked offline.

No Docker engine runs on development or CI machines, so nothing here starts a container: the file is read with
PyYAML (which resolves anchors and merge keys as Compose does) and checked for the mistakes Compose itself
would only report at `docker compose up`, or not at all.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"

# ARCHITECTURE §3, the same in the native stack: service -> {container port: published host port}.
EXPECTED_PORTS: dict[str, dict[int, int]] = {
    "postgres": {5432: 5432},
    "minio": {9000: 9000, 9001: 9001},
    "trino": {8090: 8090},
    "marquez": {5000: 5000, 5001: 5001},
    "marquez-web": {3000: 3000},
    "jupyter": {8888: 8888},
    "gateway": {8080: 8080},
}
EXPECTED_SERVICES = {*EXPECTED_PORTS, "minio-init", "opslake", "opslake-embedded"}
# Dependencies the start order relies on: (service, dependency) -> condition.
EXPECTED_DEPENDENCIES = {
    ("minio-init", "minio"): "service_healthy",
    ("trino", "postgres"): "service_healthy",
    ("trino", "minio-init"): "service_completed_successfully",
    ("marquez", "postgres"): "service_healthy",
    ("opslake", "trino"): "service_healthy",
    ("opslake", "marquez"): "service_healthy",
    ("jupyter", "opslake"): "service_completed_successfully",
    ("gateway", "opslake"): "service_completed_successfully",
    ("gateway", "trino"): "service_healthy",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|ROOT_USER")
REQUIRED_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_]\w*):\?(?P<message>[^}]+)\}")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_]\w*)(?P<rest>[^}]*)\}")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def published_ports(service: dict[str, Any]) -> Iterator[tuple[str | None, int, int]]:
    """(host ip, host port, container port) for each published port, short or long syntax."""
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            yield entry.get("host_ip"), int(entry["published"]), int(entry["target"])
            continue
        parts = str(entry).split("/")[0].split(":")
        assert len(parts) in (2, 3), (
            f"publish ports explicitly as [ip:]host:container, not {entry!r}"
        )
        host_ip = parts[0] if len(parts) == 3 else None
        yield host_ip, int(parts[-2]), int(parts[-1])


def mounts(service: dict[str, Any]) -> Iterator[tuple[str, str, str, bool]]:
    """(type, source, target, read only) for each volume entry, short or long syntax."""
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            yield entry["type"], entry["source"], entry["target"], bool(entry.get("read_only"))
            continue
        source, target, *mode = str(entry).split(":")
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        yield kind, source, target, "ro" in ",".join(mode).split(",")


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def test_service_set(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == EXPECTED_SERVICES


def test_published_ports_match_architecture(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        ports = {container: host for _, host, container in published_ports(service)}
        assert ports == EXPECTED_PORTS.get(name, {}), name


def test_ports_are_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for host_ip, host, _ in published_ports(service):
            assert host_ip == "127.0.0.1", (
                f"{name} publishes {host} on {host_ip or 'every interface'}"
            )


def test_bind_mounted_host_paths_exist(services: dict[str, dict[str, Any]]) -> None:
    missing = sorted(
        {
            source
            for service in services.values()
            for kind, source, _, _ in mounts(service)
            if kind == "bind" and not (REPO / source).exists()
        }
    )
    assert not missing, f"docker-compose.yml mounts files that do not exist: {missing}"


def test_config_files_are_mounted_read_only(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for kind, source, target, read_only in mounts(service):
            if kind == "bind" and source.startswith("./deploy/"):
                assert read_only, f"{name}: {source} -> {target} should be :ro"


def test_named_volumes_are_declared_and_hold_the_data(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    named = {
        (name, target): source
        for name, service in services.items()
        for kind, source, target, _ in mounts(service)
        if kind == "volume"
    }
    assert set(named.values()) <= declared
    assert ("postgres", "/var/lib/postgresql/data") in named
    assert ("minio", "/data") in named


def test_secrets_are_required_interpolations(services: dict[str, dict[str, Any]]) -> None:
    checked = 0
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                checked += 1
                assert REQUIRED_VAR.fullmatch(value), (
                    f"{name}.{key} must be ${{VAR:?message}} from .env, not a literal or a default"
                )
    assert checked >= 10  # postgres, minio, minio-init, trino, marquez, opslake all carry secrets


def test_required_variables_are_documented_and_env_is_ignored(compose: dict[str, Any]) -> None:
    text = "\n".join(strings(compose))  # the values Compose interpolates, without comments
    for match in INTERPOLATION.finditer(text):
        if SECRET_NAME.search(match["name"]):
            assert match["rest"].startswith(":?"), f"{match[0]} gives a secret a default"
    required = {m["name"] for m in REQUIRED_VAR.finditer(text)}
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.M))
    assert required and required <= documented
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_dollar_signs_are_interpolations_or_escaped(compose: dict[str, Any]) -> None:
    """Compose rejects `$@` and silently empties `$name`; shell variables must be written `$$name`."""
    for value in strings(compose):
        bare = INTERPOLATION.sub("", value.replace("$$", ""))
        assert "$" not in bare, f"unescaped $ in {value!r}"


def test_dependencies_exist_and_their_conditions_can_be_met(
    services: dict[str, dict[str, Any]],
) -> None:
    edges = {
        (name, dep): cond for name, s in services.items() for dep, cond in depends_on(s).items()
    }
    for (name, dep), condition in edges.items():
        assert dep in services, f"{name} depends on undefined service {dep}"
        assert condition in CONDITIONS, f"{name} -> {dep}: {condition}"
        target = services[dep]
        if condition == "service_healthy":
            assert "test" in target.get("healthcheck", {}), f"{dep} has no healthcheck"
            assert not target["healthcheck"].get("disable"), f"{dep} has its healthcheck disabled"
        if condition == "service_completed_successfully":
            assert not target.get("ports") and target.get("restart", "no") == "no", dep
        if not services[name].get("profiles"):
            assert not target.get("profiles"), f"{name} always starts but {dep} is in a profile"
    assert EXPECTED_DEPENDENCIES.items() <= edges.items()
    # no cycles: repeatedly remove services whose dependencies are all gone
    remaining = set(services)
    while remaining:
        ready = {n for n in remaining if not set(depends_on(services[n])) & remaining}
        assert ready, f"dependency cycle among {sorted(remaining)}"
        remaining -= ready


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    tags = {}
    for name, service in services.items():
        image = service.get("image", "")
        assert image, f"{name} has no image"
        last = image.rsplit("/", 1)[-1]
        assert ":" in last or "@sha256:" in image, f"{name}: {image} has no tag"
        tags[name] = last.split("@")[0].split(":", 1)[-1]
        assert tags[name] != "latest", f"{name}: {image}"
    assert tags["trino"] == "476"  # the newest release on Maven Central, as in the native stack
    assert tags["postgres"] == "15"
    assert tags["marquez"] == tags["marquez-web"]
    assert tags["minio"].startswith("RELEASE.") and tags["minio-init"].startswith("RELEASE.")


def test_endpoints_point_at_services_and_their_ports(services: dict[str, dict[str, Any]]) -> None:
    """Every host:port in an environment value is a service name and a port that service listens on."""
    seen = 0
    for name, service in services.items():
        for key, value in environment(service).items():
            for host, port in re.findall(r"//([a-z][\w-]*):(\d+)", value):
                seen += 1
                assert host in services, f"{name}.{key}: unknown host {host}"
                assert int(port) in EXPECTED_PORTS.get(host, {}), f"{name}.{key}: {host}:{port}"
    assert seen >= 5  # trino: catalog, S3; opslake: catalog, S3, lineage
    stack, trino = environment(services["opslake"]), environment(services["trino"])
    assert stack["OPSLAKE_PROFILE"] == "stack"
    assert stack["OPSLAKE_CATALOG_URI"] == trino["OPSLAKE_CATALOG_URI"]
    assert stack["OPSLAKE_CATALOG_URI"] == "jdbc:postgresql://postgres:5432/iceberg_catalog"
    assert stack["OPSLAKE_S3_ENDPOINT"] == trino["OPSLAKE_S3_ENDPOINT"] == "http://minio:9000"
    assert stack["OPSLAKE_LINEAGE_URL"] == "http://marquez:5000"
    assert stack["OPSLAKE_TRINO_HOST"] == "trino"
    assert int(stack.get("OPSLAKE_TRINO_PORT", 8090)) in EXPECTED_PORTS["trino"]
    assert environment(services["opslake-embedded"])["OPSLAKE_PROFILE"] == "embedded"


def test_selected_profiles_exist(services: dict[str, dict[str, Any]]) -> None:
    """opslake's load_settings() fails on a profile without deploy/profiles/<name>.env."""
    for service in services.values():
        profile = environment(service).get("OPSLAKE_PROFILE", "embedded")
        if profile != "embedded":
            assert (REPO / "deploy" / "profiles" / f"{profile}.env").is_file(), profile


def test_trino_config_env_references_are_set(services: dict[str, dict[str, Any]]) -> None:
    """Trino refuses to start when a ${ENV:NAME} in its config names an unset variable."""
    files = [
        REPO / source
        for kind, source, _, _ in mounts(services["trino"])
        if kind == "bind" and (REPO / source).is_file()
    ]
    if not files:
        pytest.skip("deploy/trino/etc/ not written yet")
    env = environment(services["trino"])
    for path in files:
        for var in re.findall(r"\$\{ENV:([A-Za-z_]\w*)\}", path.read_text()):
            assert var in env, f"{path.relative_to(REPO)} reads ${{ENV:{var}}}, unset in trino"


def test_marquez_config_env_references_are_set(services: dict[str, dict[str, Any]]) -> None:
    path = REPO / "deploy" / "marquez" / "marquez.yml"
    if not path.is_file():
        pytest.skip("deploy/marquez/marquez.yml not written yet")
    env = environment(services["marquez"])
    for var, default in re.findall(r"\$\{([A-Za-z_]\w*)(:-[^}]*)?\}", path.read_text()):
        assert default or var in env, f"marquez.yml needs ${{{var}}}, unset in marquez"


def test_postgres_init_creates_the_databases_in_use(services: dict[str, dict[str, Any]]) -> None:
    path = REPO / "deploy" / "postgres" / "init.sh"
    if not path.is_file():
        pytest.skip("deploy/postgres/init.sh not written yet")
    script = path.read_text()
    # init.sh runs `psql` with libpq defaults; the container's OS user `postgres` has no role when
    # POSTGRES_USER is someone else, so PGUSER must name the superuser.
    postgres = environment(services["postgres"])
    assert postgres.get("PGUSER") == postgres["POSTGRES_USER"]
    wanted = {environment(services["marquez"])["POSTGRES_DB"], "airflow"}
    for service in services.values():
        wanted |= set(re.findall(r"jdbc:postgresql://[^/]+/(\w+)", " ".join(strings(service))))
    assert wanted == {"iceberg_catalog", "marquez", "airflow"}
    for database in wanted:
        assert re.search(rf"\b{database}\b", script), f"init.sh does not create {database}"


def test_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    """Validate against the Compose Specification's JSON schema, when one is installed.

    PyPI's check-jsonschema vendors the schema (check_jsonschema/builtin_schemas/vendor/compose-spec.json);
    neither it nor jsonschema is an opslake dependency, so this is skipped unless both are installed.
    """
    jsonschema = pytest.importorskip("jsonschema")
    spec = importlib.util.find_spec("check_jsonschema")
    schema_file = (
        Path(spec.origin).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
        if spec and spec.origin
        else None
    )
    if schema_file is None or not schema_file.is_file():
        pytest.skip("no compose-spec.json installed (pip install check-jsonschema to run this)")
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose)
    ]
    assert not errors, "\n".join(errors)
