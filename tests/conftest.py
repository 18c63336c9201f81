"""Shared fixtures. One Spark session per test run, on a throwaway embedded lake."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from opslake.config import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BENCH = Path(
    os.environ.get(
        "OPSLAKE_BENCH_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "bench"
    )
)


@pytest.fixture(scope="session")
def bench_dir() -> Path:
    if not BENCH.exists():
        pytest.skip(f"public benchmark data not found at {BENCH} (set OPSLAKE_BENCH_DATA)")
    return BENCH


@pytest.fixture(scope="session")
def lake_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("lake")
    return Settings(
        home=home,
        out_dir=home / "out",
        spark_master="local[2]",
        spark_driver_memory="2g",
        spark_shuffle_partitions=4,
        placement_iterations=300,
    )


@pytest.fixture(scope="session")
def spark(lake_settings: Settings) -> Iterator[SparkSession]:
    from opslake.lake.session import build_session

    session = build_session(lake_settings)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def isolated_lake(
    spark: SparkSession, lake_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Settings]:
    """Factory: Settings for a separate Iceberg catalog ``name`` with its own catalog and warehouse.

    Spark loads catalogs lazily, so registering one on the running session gives each test module
    a lake of its own without starting another JVM.
    """
    from opslake.lake.session import catalog_conf

    def make(name: str) -> Settings:
        home = tmp_path_factory.mktemp(name)
        settings = lake_settings.model_copy(
            update={"catalog_name": name, "home": home, "out_dir": home / "out"}
        )
        for key, value in catalog_conf(settings).items():
            spark.conf.set(key, value)
        for namespace in ("telemetry", "analytics"):
            spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {name}.{namespace}")
        return settings

    return make
