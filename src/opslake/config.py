"""Configuration: one Settings object read from ``OPSLAKE_*`` environment variables or a profile file.

The embedded profile is the default (everything derives from ``home``, ``./.lake`` in the working
directory). The stack profile is the same code with other values, loaded from ``deploy/profiles/<name>.env``
(shipped in the package, see ``data_path``); no business logic branches on the profile.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from opslake.exceptions import ConfigError

# The source checkout, for tests and developer tools only: an installed wheel has none. Runtime files
# come from ``data_path``, state goes to the working directory.
REPO_ROOT = Path(__file__).resolve().parents[2]


def data_path(*parts: str) -> Path:
    """A file or folder of the package data: ``sql/...`` or ``deploy/...`` of the source tree.

    Resolved with importlib.resources, so it works from an installed wheel as from a checkout (where
    ``src/opslake/_data/`` links to the top-level folders).
    """
    node = files("opslake") / "_data"
    for part in parts:
        node = node / part
    # Imported from a zip, the data would not be files: psql, Trino and Marquez need real paths.
    if not isinstance(node, Path):
        raise ConfigError(f"opslake's package data is not on a filesystem: {node}")
    return node


def _cwd(name: str) -> Path:
    """``./<name>`` in the working directory at start-up: state never goes next to the installed code."""
    return Path.cwd() / name


class Settings(BaseSettings):
    """Every tunable of opslake. Paths are resolved to absolute URIs by the helpers below."""

    model_config = SettingsConfigDict(env_prefix="OPSLAKE_", extra="ignore")

    profile: str = "embedded"
    home: Path = Field(default_factory=lambda: _cwd(".lake"))
    out_dir: Path = Field(default_factory=lambda: _cwd("out"))
    cache_dir: Path = Path.home() / ".cache" / "opslake"
    # Native stack state (data, logs, pids, generated secrets); git-ignored.
    stack_dir: Path = Field(default_factory=lambda: _cwd(".stack"))

    # Compute
    spark_master: str = "local[*]"
    spark_driver_memory: str = "4g"
    spark_shuffle_partitions: int = 8
    # Tasks that read landing files (0: twice Spark's default parallelism); results never depend on it.
    spark_input_partitions: int = 0

    # Iceberg catalog (JDBC). Empty uri -> SQLite file under home.
    catalog_name: str = "lake"
    catalog_uri: str = ""
    catalog_user: str = ""
    catalog_password: SecretStr = SecretStr("")
    warehouse: str = ""  # empty -> file://<home>/warehouse
    raw_uri: str = ""  # empty -> file://<home>/raw ; landing zone for immutable source files
    models_uri: str = ""  # empty -> <warehouse>/models

    # Object storage (S3 API); unused while the URIs above are file://
    s3_endpoint: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr = SecretStr("")
    s3_secret_key: SecretStr = SecretStr("")

    # Lineage: "file" writes OpenLineage JSONL, "http" posts to Marquez.
    lineage_transport: str = "file"
    lineage_url: str = "http://127.0.0.1:5000"
    lineage_namespace: str = "opslake"
    # Events the transport could not deliver wait here for `opslake lineage replay`.
    lineage_spool: str = ""  # empty -> <out_dir>/lineage-spool.jsonl

    # SQL engine for `opslake query`: "spark" or "trino".
    sql_engine: str = "spark"
    trino_host: str = "127.0.0.1"
    trino_port: int = 8090
    trino_user: str = "opslake"

    # Analytics knobs
    seed: int = 7
    placement_algorithm: str = "annealing"
    # Searches stop on this seeded iteration budget (reproducible on any machine; iterations are
    # weighted by their work, ~0.1 ms each, so ~0.3 s for a pool of 150 workloads); the wall-clock
    # limit is only a safety stop, logged when hit, never reached in normal runs.
    placement_iterations: int = 2000
    placement_safety_limit_s: float = 30.0

    @property
    def catalog_jdbc_uri(self) -> str:
        return self.catalog_uri or f"jdbc:sqlite:{self.home.resolve() / 'catalog.db'}"

    @property
    def warehouse_uri(self) -> str:
        return self.warehouse or (self.home.resolve() / "warehouse").as_uri()

    @property
    def raw_root(self) -> str:
        return self.raw_uri or (self.home.resolve() / "raw").as_uri()

    @property
    def models_root(self) -> str:
        return self.models_uri or f"{self.warehouse_uri.rstrip('/')}/models"

    @property
    def lineage_file(self) -> Path:
        return self.out_dir / "lineage.jsonl"

    @property
    def lineage_spool_file(self) -> Path:
        return (
            Path(self.lineage_spool) if self.lineage_spool else self.out_dir / "lineage-spool.jsonl"
        )

    def table(self, namespace: str, name: str) -> str:
        """Fully qualified Iceberg table name, e.g. ``lake.telemetry.node_metrics``."""
        return f"{self.catalog_name}.{namespace}.{name}"

    @field_validator("placement_algorithm")
    @classmethod
    def _known_algorithm(cls, value: str) -> str:
        # Checked here: an unknown name would otherwise fail inside a Spark task, mid-run.
        from opslake.placement.core import ALGORITHMS

        if value not in ALGORITHMS:
            raise ValueError(
                f"unknown placement algorithm {value!r}; known: {', '.join(ALGORITHMS)}"
            )
        return value


def secrets_file(stack_dir: Path | None = None) -> Path:
    """Where ``opslake stack up`` writes the generated credentials of the native stack."""
    default = Path(os.environ.get("OPSLAKE_STACK_DIR") or _cwd(".stack"))
    return (stack_dir or default) / "secrets.env"


def _config_error(exc: ValidationError) -> ConfigError:
    """One line per bad setting, named as the environment variable; secret values are not echoed."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        shown = "" if "secret" in field or "password" in field else f" (got {error.get('input')!r})"
        lines.append(f"OPSLAKE_{field.upper()}: {error['msg']}{shown}")
    return ConfigError("invalid setting(s): " + "; ".join(lines))


def load_settings(profile: str | None = None) -> Settings:
    """Build Settings from the environment, layered over ``deploy/profiles/<profile>.env`` if given.

    Non-embedded profiles also read the generated secrets file (after the profile file). Environment
    variables win over both, so a deployment can override single values. A profile that talks to S3
    without credentials is an error here, not a confusing 403 later: there are no default credentials.
    """
    try:
        return _load(profile or os.environ.get("OPSLAKE_PROFILE", "embedded"))
    except ValidationError as exc:  # a wrong value in the environment or a profile file
        raise _config_error(exc) from None


def _load(name: str) -> Settings:
    if name == "embedded":
        return Settings()
    profiles = data_path("deploy", "profiles")
    env_file = profiles / f"{name}.env"
    if not env_file.exists():
        known = sorted(["embedded", *(p.stem for p in profiles.glob("*.env"))])
        raise ConfigError(f"unknown profile {name!r}; known profiles: {', '.join(known)}")
    env_files = tuple(p for p in (env_file, secrets_file()) if p.exists())
    settings = Settings(_env_file=env_files, profile=name)  # type: ignore[call-arg]
    if settings.s3_endpoint and not settings.s3_secret_key.get_secret_value():
        raise ConfigError(
            f"profile {name!r} uses S3 at {settings.s3_endpoint} but has no credentials: run "
            f"`opslake stack up` (writes {secrets_file()}) or set OPSLAKE_S3_ACCESS_KEY and "
            "OPSLAKE_S3_SECRET_KEY"
        )
    return settings
