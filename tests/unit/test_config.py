import pytest

from opslake.config import Settings, load_settings
from opslake.exceptions import ConfigError
from opslake.lake.session import catalog_conf


def test_embedded_defaults_derive_from_home(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path)
    assert settings.catalog_jdbc_uri == f"jdbc:sqlite:{tmp_path}/catalog.db"
    assert settings.warehouse_uri == (tmp_path / "warehouse").as_uri()
    assert settings.raw_root == (tmp_path / "raw").as_uri()
    assert settings.table("telemetry", "node_metrics") == "lake.telemetry.node_metrics"
    conf = catalog_conf(settings)
    assert conf["spark.sql.catalog.lake.jdbc.schema-version"] == "V1"
    assert "spark.sql.catalog.lake.io-impl" not in conf  # local files: Hadoop FileIO


def test_environment_overrides_and_s3_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSLAKE_CATALOG_URI", "jdbc:postgresql://127.0.0.1:5432/iceberg")
    monkeypatch.setenv("OPSLAKE_WAREHOUSE", "s3://lake/warehouse")
    monkeypatch.setenv("OPSLAKE_S3_ENDPOINT", "http://127.0.0.1:9000")
    monkeypatch.setenv("OPSLAKE_S3_SECRET_KEY", "s3cr3t")
    settings = Settings()
    conf = catalog_conf(settings)
    assert conf["spark.sql.catalog.lake.uri"] == "jdbc:postgresql://127.0.0.1:5432/iceberg"
    assert conf["spark.sql.catalog.lake.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert conf["spark.sql.catalog.lake.s3.path-style-access"] == "true"
    assert "s3cr3t" not in repr(settings)  # secrets are never printed


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        load_settings("nope")


def test_a_bad_value_in_the_environment_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPSLAKE_SPARK_SHUFFLE_PARTITIONS", "eight")
    monkeypatch.setenv("OPSLAKE_PLACEMENT_ALGORITHM", "quantum")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == (
        "invalid setting(s): OPSLAKE_SPARK_SHUFFLE_PARTITIONS: Input should be a valid integer, "
        "unable to parse string as an integer (got 'eight'); OPSLAKE_PLACEMENT_ALGORITHM: Value "
        "error, unknown placement algorithm 'quantum'; known: ffd, bfd, least_loaded, genetic, "
        "annealing (got 'quantum')"
    )


def test_a_bad_secret_is_reported_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSLAKE_CATALOG_PASSWORD", "")  # valid: empty
    assert load_settings().catalog_password.get_secret_value() == ""
    from pydantic import SecretStr, ValidationError

    from opslake.config import _config_error

    with pytest.raises(ValidationError) as info:
        Settings(catalog_password=SecretStr("x"), s3_secret_key=["hunter2"])  # type: ignore[arg-type]
    message = str(_config_error(info.value))
    assert message.startswith("invalid setting(s): OPSLAKE_S3_SECRET_KEY: ")
    assert "hunter2" not in message
