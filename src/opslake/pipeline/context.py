"""What a step's compute function gets: the session, the settings, its dates, and as-of reads.

Every read goes through here and is bounded by the run's dates, so re-running an old date after newer
data arrived gives the old answer; and a step can read only the tables its spec declares, so lineage
cannot disagree with what the job really reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opslake.config import Settings
from opslake.pipeline.tables import TABLES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def shift(day: str, days: int) -> str:
    """``day`` (YYYY-MM-DD) moved by ``days``."""
    return (dt.date.fromisoformat(day) + dt.timedelta(days=days)).isoformat()


@dataclass
class StepContext:
    """One run of one step over ``dates`` (sorted ISO dates)."""

    spark: SparkSession
    settings: Settings
    step: str
    inputs: tuple[str, ...]
    dates: tuple[str, ...]
    # Per-run scratch space (e.g. DataFrames a step caches for its summary); cleared by the runner.
    scratch: dict[str, Any] = field(default_factory=dict)

    def name(self, key: str) -> str:
        """Catalog name of a declared table, e.g. ``lake.telemetry.node_metrics``."""
        namespace, table = key.split(".")
        return self.settings.table(namespace, table)

    def _table(self, key: str) -> DataFrame:
        if key not in self.inputs:
            raise KeyError(f"step {self.step!r} reads {key!r} but its spec does not declare it")
        return self.spark.table(self.name(key))

    def read(self, key: str, lookback_days: int = 0) -> DataFrame:
        """Rows of ``key`` dated from ``lookback_days`` before the first run date to the last one."""
        from pyspark.sql import functions as F

        first = shift(self.dates[0], -lookback_days)
        frame = self._table(key)
        if not TABLES[key].by_date:
            return frame
        window = (F.col("dt") >= F.lit(first).cast("date")) & (
            F.col("dt") <= F.lit(self.dates[-1]).cast("date")
        )
        return frame.where(window)

    def read_snapshot(self, key: str) -> DataFrame:
        """A snapshot dimension as of each run date: the rows of the latest snapshot (``dt``) on or
        before it, with the run date in column ``as_of``. Later snapshots are never seen."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        frame = self._table(key).where(F.col("dt") <= F.lit(self.dates[-1]).cast("date"))
        snapshots = frame.select(F.col("dt").alias("snapshot")).distinct()
        run_dates = self.spark.createDataFrame([(d,) for d in self.dates], "as_of STRING").select(
            F.col("as_of").cast("date").alias("as_of")
        )
        latest = (
            run_dates.join(snapshots, F.col("snapshot") <= F.col("as_of"), how="inner")
            .withColumn("rank", F.row_number().over(Window.partitionBy("as_of").orderBy(
                F.col("snapshot").desc()
            )))
            .where(F.col("rank") == 1)
            .drop("rank")
        )  # fmt: skip
        return frame.join(F.broadcast(latest), frame["dt"] == latest["snapshot"], how="inner").drop(
            "snapshot"
        )
