"""The spark-submit each task runs: the step's entry point, its dates, the master, no secret."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path

import pytest

from opslake.orchestration import (
    dates_from_asset_events,
    interval_dates,
    spark_submit_command,
    spark_submit_env,
)
from opslake.orchestration.submit import SparkSubmitError, jobs_dir, run_submit

UTC = dt.UTC


def test_command_runs_the_steps_entry_point_for_its_dates_on_the_master() -> None:
    argv = spark_submit_command(
        "placement", ["2026-11-23", "2026-11-22", "2026-11-23"], "spark://127.0.0.1:7077",
        profile="stack", spark_home_bin=Path("/v/bin"), entry_points=Path("/repo/spark_jobs"),
    )  # fmt: skip
    assert argv == [
        "/v/bin/spark-submit", "--master", "spark://127.0.0.1:7077", "--name", "opslake-placement",
        "/repo/spark_jobs/placement.py", "--date", "2026-11-22", "--date", "2026-11-23",
        "--profile", "stack",
    ]  # fmt: skip


def test_default_paths_are_this_venvs_spark_submit_and_the_repos_entry_points() -> None:
    argv = spark_submit_command("ingest", ["2026-11-22"], "local[2]")
    assert Path(argv[0]) == Path(sys.executable).parent / "spark-submit"
    assert Path(argv[0]).exists()
    assert Path(argv[5]) == jobs_dir() / "ingest.py"
    assert Path(argv[5]).read_text().count('main("ingest")') == 1
    assert "--profile" not in argv


@pytest.mark.parametrize("dates", [[], ["2026-11-31"], ["20261122"], ["2026-11-22T00:00"]])
def test_bad_dates_are_refused(dates: list[str]) -> None:
    with pytest.raises(ValueError):
        spark_submit_command("carbon", dates, "local[*]")


def test_unknown_step_is_refused() -> None:
    with pytest.raises(KeyError):
        spark_submit_command("lake_cleanup", ["2026-11-22"], "local[*]")


def test_env_passes_spark_and_opslake_settings_and_drops_the_rest() -> None:
    env = spark_submit_env(
        {"OPSLAKE_PROFILE": "stack", "PATH": "/bin", "AIRFLOW__CORE__FERNET_KEY": "k",
         "AWS_SECRET_ACCESS_KEY": "s", "SPARK_LOCAL_IP": "127.0.0.1"},
        java_home="/jdk",
    )  # fmt: skip
    assert env == {
        "OPSLAKE_PROFILE": "stack", "PATH": "/bin", "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
        "JAVA_HOME": "/jdk",
    }  # fmt: skip


def test_interval_dates() -> None:
    t = dt.datetime(2026, 11, 22, 23, 45, tzinfo=UTC)
    assert interval_dates(t, t + dt.timedelta(minutes=15)) == ["2026-11-22"]
    assert interval_dates(t, t + dt.timedelta(minutes=30)) == ["2026-11-22", "2026-11-23"]
    day = dt.datetime(2026, 11, 22, tzinfo=UTC)
    assert interval_dates(day, day + dt.timedelta(days=1)) == ["2026-11-22"]
    assert interval_dates(day, day) == ["2026-11-22"]


def test_dates_from_asset_events_unions_every_event() -> None:
    extras = [{"dates": ["2026-11-23"]}, {}, {"dates": ["2026-11-22", "2026-11-23"]}]
    assert dates_from_asset_events(extras) == ["2026-11-22", "2026-11-23"]
    assert dates_from_asset_events([]) == []


def test_run_submit_logs_output_and_fails_on_non_zero(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("t")
    with caplog.at_level(logging.INFO, logger="t"):
        run_submit([sys.executable, "-c", "print('row 1'); print('row 2')"], {}, log)
    assert [r.getMessage() for r in caplog.records][-2:] == ["row 1", "row 2"]
    job = [sys.executable, "-c", "import sys; sys.exit(3)", "x.py"]
    with pytest.raises(SparkSubmitError, match=r"x\.py exited with 3"):
        run_submit(job, {}, log)


def test_launch_time_conf_goes_on_the_command_line_but_a_credential_never_does() -> None:
    conf = {"spark.jars": "/c/a.jar,/c/b.jar", "spark.driver.memory": "1g",
            "spark.master": "local[1]", "spark.app.name": "x"}  # fmt: skip
    argv = spark_submit_command("carbon", ["2026-11-22"], "local[2]", conf=conf,
                                spark_home_bin=Path("/b"), entry_points=Path("/j"))  # fmt: skip
    assert argv == [
        "/b/spark-submit", "--master", "local[2]", "--name", "opslake-carbon",
        "--conf", "spark.driver.memory=1g", "--conf", "spark.jars=/c/a.jar,/c/b.jar",
        "/j/carbon.py", "--date", "2026-11-22",
    ]  # fmt: skip
    for key in ("spark.sql.catalog.lake.jdbc.password", "spark.sql.catalog.x.s3.secret-access-key"):
        with pytest.raises(ValueError, match="credential"):
            spark_submit_command("carbon", ["2026-11-22"], "local[2]", conf={key: "s"})


def test_the_tasks_conf_is_the_sessions_public_conf_and_holds_no_secret(tmp_path: Path) -> None:
    from opslake.config import Settings
    from opslake.lake.session import spark_conf, split_secrets

    settings = Settings(home=tmp_path, catalog_user="u", catalog_password="pw-123",  # type: ignore[arg-type]
                        s3_endpoint="http://127.0.0.1:9000", s3_access_key="ak-123",  # type: ignore[arg-type]
                        s3_secret_key="sk-123")  # type: ignore[arg-type]  # fmt: skip
    public, secret = split_secrets(spark_conf(settings))
    argv = " ".join(spark_submit_command("placement", ["2026-11-22"], "local[2]", conf=public))
    assert len(secret) == 3
    for value in ("pw-123", "ak-123", "sk-123"):
        assert value not in argv
    assert "spark.sql.extensions=org.apache.iceberg.spark.extensions." in argv
