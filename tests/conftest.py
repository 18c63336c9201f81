"""Shared fixtures. One Spark session per test run, on a throwaway embedded lake."""

from __future__ import annotations

import os
from collections.abc import Iterator
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
        placement_time_limit_s=0.05,
    )


@pytest.fixture(scope="session")
def spark(lake_settings: Settings) -> Iterator[SparkSession]:
    from opslake.lake.session import build_session

    session = build_session(lake_settings)
    yield session
    session.stop()
