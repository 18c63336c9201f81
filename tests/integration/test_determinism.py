"""Decisions must not depend on how Spark splits the data, nor on data that arrived after the date.

- The whole pipeline on one input with 1 and with 8 shuffle/input partitions (and different Arrow batch
  sizes) writes the same rows to every output table.
- Run date D, land D+1 (new grid intensities, a new pool snapshot with other prices), process it, re-run
  D: D's rows are unchanged in every table.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from opslake.config import Settings
from opslake.lake.landing import write_landing
from opslake.lake.storage import StorageOptions
from opslake.lineage import LineageRecorder, replay_spool
from opslake.pipeline.runner import run_pipeline, run_step
from opslake.pipeline.spec import PIPELINE
from opslake.pipeline.tables import TABLES
from opslake.telemetry import GeneratorConfig, generate
from opslake.telemetry.schemas import SOURCES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = GeneratorConfig(days=2, nodes=12, workloads=150, seed=23)
D1, D2 = "2026-11-16", "2026-11-17"
OUTPUTS = sorted({key for step in PIPELINE for key in step.outputs})


@contextmanager
def spark_conf(spark: SparkSession, **conf: str) -> Iterator[None]:
    previous = {k: spark.conf.get(k) for k in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            spark.conf.set(key, value)


def portable(spark: SparkSession, settings: Settings, key: str) -> DataFrame:
    """A table's rows with the lake's own location and catalog name cut out of path columns."""
    frame = spark.table(settings.table(*key.split(".")))
    for column in ("source_file", "artifact_uri"):
        if column in frame.columns:
            for prefix in (settings.raw_root, settings.models_root, settings.catalog_name):
                frame = frame.withColumn(column, F.replace(F.col(column), F.lit(prefix), F.lit("")))
    return frame


@pytest.fixture(scope="module")
def two_runs(
    spark: SparkSession, isolated_lake: Callable[[str], Settings]
) -> tuple[Settings, Settings]:
    narrow = isolated_lake("det_narrow").model_copy(update={"spark_input_partitions": 1})
    wide = isolated_lake("det_wide").model_copy(update={"spark_input_partitions": 8})
    with spark_conf(
        spark,
        **{"spark.sql.shuffle.partitions": "1", "spark.sql.adaptive.enabled": "false",
           "spark.sql.execution.arrow.maxRecordsPerBatch": "100000"},
    ):  # fmt: skip
        run_pipeline(lambda: spark, narrow, CONFIG)
    with spark_conf(
        spark,
        **{"spark.sql.shuffle.partitions": "8", "spark.sql.adaptive.enabled": "false",
           "spark.sql.execution.arrow.maxRecordsPerBatch": "37"},
    ):  # fmt: skip
        run_pipeline(lambda: spark, wide, CONFIG)
    return narrow, wide


@pytest.mark.parametrize("key", OUTPUTS)
def test_every_output_table_is_identical_with_1_or_8_partitions(
    spark: SparkSession, two_runs: tuple[Settings, Settings], key: str
) -> None:
    narrow, wide = two_runs
    expected = portable(spark, narrow, key)
    assert expected.count() > 0 or key == "analytics.carbon_recommendations"
    # Exact: no tolerance on doubles (sums are exact, scores per row, searches on iteration budgets).
    assertDataFrameEqual(portable(spark, wide, key), expected, rtol=0.0, atol=0.0)


def _land_date(settings: Settings, day: str, pools: pd.DataFrame) -> None:
    """Land the generated rows of ``day`` only, and ``pools`` as that day's pool snapshot."""
    telemetry = generate(CONFIG)
    options = StorageOptions.from_settings(settings)
    for source, (_schema, _keys, ts_column) in SOURCES.items():
        frame = getattr(telemetry, source)
        if source == "node_pools":
            write_landing(pools, source, settings.raw_root, options, "asof", logical_date=day)
            continue
        on_day = pd.to_datetime(frame[ts_column], utc=True).dt.strftime("%Y-%m-%d") == day
        write_landing(frame[on_day], source, settings.raw_root, options, "asof")


def _run_all(spark: SparkSession, settings: Settings, day: str) -> None:
    lineage = LineageRecorder(settings)
    for step in PIPELINE:
        run_step(spark, settings, step, [day], lineage)


def _rows_of(spark: SparkSession, settings: Settings, key: str, day: str) -> DataFrame:
    frame = spark.table(settings.table(*key.split(".")))
    if TABLES[key].by_date:
        return frame.where(F.col("dt") == F.lit(day).cast("date"))
    return frame.where(F.col("trained_to") == F.lit(day).cast("date"))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe is closed


def test_rerunning_an_old_date_after_new_data_gives_the_same_tables(
    spark: SparkSession, isolated_lake: Callable[[str], Settings]
) -> None:
    # Lineage goes to a Marquez that is down: every run must still succeed, its events spooled.
    settings = isolated_lake("det_asof").model_copy(
        update={"lineage_transport": "http", "lineage_url": f"http://127.0.0.1:{_closed_port()}"}
    )
    pools = generate(CONFIG).node_pools
    _land_date(settings, D1, pools)
    _run_all(spark, settings, D1)
    before = {key: _rows_of(spark, settings, key, D1).collect() for key in OUTPUTS}
    assert len(before["analytics.placements"]) > 0 and len(before["analytics.carbon_usage"]) > 0

    # The world moves on: D+1 telemetry and grid intensities, and a pool snapshot with new prices.
    dearer = pools.assign(price_per_hour=pools["price_per_hour"] * 3)
    _land_date(settings, D2, dearer)
    _run_all(spark, settings, D2)
    assert _rows_of(spark, settings, "telemetry.grid_intensity", D2).count() > 0

    _run_all(spark, settings, D1)
    for key in OUTPUTS:
        after = _rows_of(spark, settings, key, D1)
        assertDataFrameEqual(after, before[key], rtol=0.0, atol=0.0)

    # Three runs of every step, START + COMPLETE each, all spooled; a replay delivers them in order.
    delivered = settings.model_copy(update={"lineage_transport": "file"})
    assert replay_spool(delivered) == (3 * len(PIPELINE) * 2, 0)
    events = [json.loads(line) for line in delivered.lineage_file.read_text().splitlines()]
    assert [(e["job"]["name"], e["eventType"]) for e in events] == 3 * [
        (step.name, state) for step in PIPELINE for state in ("START", "COMPLETE")
    ]
