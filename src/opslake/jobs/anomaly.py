"""Anomaly jobs: features per node (applyInPandas) stored once, one IsolationForest per scope trained in
parallel (applyInPandas), versioned model artifacts in object storage, scoring the stored features with
broadcast models (mapInArrow); alert events per node and metric from the streaming detector
(applyInPandas over the metrics with a look-back, see :func:`events`).

Reads are bounded by the run's dates; the model that scores a window is the one trained on that window
(or, when scoring alone, the latest trained on data up to the window's end), never a later one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from opslake.anomaly import AnomalyModel, score, train, window_features
from opslake.anomaly.detector import DEFAULT_CONFIG, detect_series
from opslake.anomaly.evaluation import scores_from_counts
from opslake.anomaly.features import METRICS
from opslake.anomaly.model import from_bytes, to_bytes
from opslake.exceptions import NoDataError
from opslake.lake.storage import StorageOptions, join, open_uri
from opslake.lake.tables import spark_schema, struct_of
from opslake.pipeline.tables import (
    ANOMALIES,
    ANOMALY_EVENTS,
    ANOMALY_FEATURES,
    ANOMALY_MODELS,
    MODEL_FEATURES,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from opslake.pipeline.context import StepContext

logger = logging.getLogger(__name__)

KEY_COLUMNS = ("ts", "node_id", "provider", "region")
MODEL_COLUMNS = MODEL_FEATURES
LOOKBACK_DAYS = 1  # history read before the first date so rolling windows are warm
#: History read before the first date for alert events: the detector's envelope spans 1000 rows
#: (3.5 days at 5 min) of a feature that itself looks one day back, so 5 days make the events of a
#: date the same whether it is scored alone or inside a longer run.
EVENT_LOOKBACK_DAYS = 5
EVENT_SCHEMA = pa.schema([f for f in ANOMALY_EVENTS.schema if f.name != "dt"])
TRAINED = pa.schema(
    [("scope", pa.string()), ("n_rows", pa.int64()), ("threshold", pa.float64()),
     ("model", pa.binary())]
)  # fmt: skip


def features(ctx: StepContext) -> DataFrame:
    """Window features for every node on the run's dates (computed with one day of look-back)."""
    from pyspark.sql import functions as F

    metrics = ctx.read("telemetry.node_metrics", lookback_days=LOOKBACK_DAYS)
    feature_schema = pa.schema([f for f in ANOMALY_FEATURES.schema if f.name != "dt"])
    columns = feature_schema.names

    def per_node(frame: pd.DataFrame) -> pd.DataFrame:
        ordered = frame.sort_values("ts", kind="mergesort").reset_index(drop=True)
        result: pd.DataFrame = window_features(ordered)[columns]
        return result

    feats: DataFrame = (
        metrics.drop("dt", "pool_id")
        .groupBy("node_id")
        .applyInPandas(per_node, spark_schema(feature_schema))
    )
    day = F.to_date("ts")
    on_dates: DataFrame = feats.where(day.isin(list(ctx.dates))).withColumn("dt", day)
    return on_dates


def model_version(dates: tuple[str, ...], seed: int) -> str:
    """Deterministic per training window, so re-training the same dates replaces the same version."""
    return f"{dates[0]}_{dates[-1]}_s{seed}"


def compute_train(ctx: StepContext) -> dict[str, DataFrame]:
    """Store the features of the run's dates; train one model per provider on them; publish them."""

    version = model_version(ctx.dates, ctx.settings.seed)
    seed = ctx.settings.seed
    feats = ctx.scratch["features"] = features(ctx).persist()

    def train_scope(frame: pd.DataFrame) -> pd.DataFrame:
        # Row order must not depend on partitioning: the forest subsamples by position.
        frame = frame.sort_values(["node_id", "ts"], kind="mergesort").reset_index(drop=True)
        scope = str(frame["provider"].iloc[0])
        model = train(frame, scope=scope, version=version, seed=seed)
        return pd.DataFrame(
            [{"scope": scope, "n_rows": len(frame), "threshold": float(model.threshold),
              "model": to_bytes(model)}]
        )  # fmt: skip

    # One small row per scope (a pickled forest of a few MB at most) comes back to be published.
    models = feats.groupBy("provider").applyInPandas(train_scope, spark_schema(TRAINED)).collect()
    options = StorageOptions.from_settings(ctx.settings)
    rows = []
    for row in sorted(models, key=lambda r: str(r["scope"])):
        uri = join(ctx.settings.models_root, "anomaly", version, f"{row['scope']}.pkl")
        _write_bytes(uri, bytes(row["model"]), options)
        rows.append((version, str(row["scope"]), dt.date.fromisoformat(ctx.dates[0]),
                     dt.date.fromisoformat(ctx.dates[-1]), int(row["n_rows"]),
                     float(row["threshold"]), uri))  # fmt: skip
    registry = ctx.spark.createDataFrame(rows, struct_of(ANOMALY_MODELS))
    return {ANOMALY_FEATURES.key: feats, ANOMALY_MODELS.key: registry}


def summarize_train(ctx: StepContext) -> dict[str, Any]:
    from pyspark.sql import functions as F

    version = model_version(ctx.dates, ctx.settings.seed)
    registry = ctx.spark.table(ctx.name(ANOMALY_MODELS.key)).where(F.col("version") == version)
    scopes = sorted(str(r["scope"]) for r in registry.select("scope").collect())
    return {
        "version": version,
        "scopes": scopes,
        "rows_written": {
            ctx.name(ANOMALY_FEATURES.key): ctx.scratch["features"].count(),
            ctx.name(ANOMALY_MODELS.key): len(scopes),
        },
    }


def choose_version(ctx: StepContext) -> str:
    """The model of the run's window if trained, else the latest trained on data up to its end."""
    from pyspark.sql import functions as F

    registry = ctx.read(ANOMALY_MODELS.key)
    wanted = model_version(ctx.dates, ctx.settings.seed)
    if registry.where(F.col("version") == wanted).limit(1).count():
        return wanted
    earlier = (
        registry.where(F.col("trained_to") <= F.lit(ctx.dates[-1]).cast("date"))
        .orderBy(F.col("trained_to").desc(), F.col("version").desc())
        .select("version")
        .first()
    )
    if earlier is None:
        raise NoDataError(
            f"no anomaly model trained on data up to {ctx.dates[-1]}: run anomaly_train first"
        )
    return str(earlier["version"])


def load_models(ctx: StepContext, version: str) -> dict[str, bytes]:
    """Artifacts of ``version`` keyed by scope, read from object storage."""
    from pyspark.sql import functions as F

    options = StorageOptions.from_settings(ctx.settings)
    rows = ctx.read(ANOMALY_MODELS.key).where(F.col("version") == version).collect()
    return {str(r["scope"]): _read_bytes(str(r["artifact_uri"]), options) for r in rows}


ANOMALY_SCHEMA = ANOMALIES.schema


def score_arrow(
    batch: pa.RecordBatch, models: Mapping[str, AnomalyModel]
) -> Iterator[pa.RecordBatch]:
    """Score one Arrow batch of features with the model of each row's scope (provider).

    Only the numeric model columns become numpy arrays; keys pass through as Arrow arrays, so no
    Python string objects are created per row (that conversion dominated a pandas-based version).
    Rows of a scope unseen in training are skipped, not guessed.
    """
    providers = batch.column("provider")
    for scope in pc.unique(providers).to_pylist():
        model = models.get(str(scope))
        if model is None:
            continue
        part = batch.filter(pc.equal(providers, scope))
        numeric = pd.DataFrame(
            {c: part.column(c).to_numpy(zero_copy_only=False) for c in MODEL_COLUMNS}
        )
        scored = score(model, numeric)
        ts = part.column("ts")
        yield pa.RecordBatch.from_arrays(
            [
                pc.cast(ts, pa.date32()),
                ts,
                part.column("node_id"),
                part.column("provider"),
                part.column("region"),
                pa.array(scored["score"].to_numpy(), pa.float64()),
                pa.array(scored["is_anomaly"].to_numpy(), pa.bool_()),
                pa.array(scored["top_metric"].to_numpy(), pa.string()),
                pa.array([model.version] * part.num_rows, pa.string()),
            ],
            schema=ANOMALY_SCHEMA,
        )


def compute_score(ctx: StepContext) -> dict[str, DataFrame]:
    """Score the stored features of the run's dates with the broadcast models."""
    from pyspark.sql.pandas.types import from_arrow_schema

    version = ctx.scratch["version"] = choose_version(ctx)
    broadcast = ctx.spark.sparkContext.broadcast(load_models(ctx, version))

    def score_partition(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        models = {scope: from_bytes(blob) for scope, blob in broadcast.value.items()}
        for batch in batches:
            yield from score_arrow(batch, models)

    feats = ctx.read(ANOMALY_FEATURES.key).select(*KEY_COLUMNS, *MODEL_COLUMNS)
    scored = feats.mapInArrow(score_partition, from_arrow_schema(ANOMALY_SCHEMA))
    return {ANOMALIES.key: scored, ANOMALY_EVENTS.key: events(ctx)}


def series_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Alert events of ONE node metric (``ts, node_id, provider, region, metric, value`` rows).

    The same :func:`~opslake.anomaly.detector.detect_series` the NAB benchmark measures; rows are
    sorted by ``ts`` inside it, so the result does not depend on how Spark grouped or ordered them.
    """
    if frame.empty:
        return pd.DataFrame({name: [] for name in EVENT_SCHEMA.names})
    _, found = detect_series(frame, value="value", ts="ts", config=DEFAULT_CONFIG)
    for key in ("node_id", "provider", "region", "metric"):
        found[key] = frame[key].iloc[0]
    result: pd.DataFrame = found[EVENT_SCHEMA.names]
    return result


def events(ctx: StepContext) -> DataFrame:
    """Alert events per node and metric that start on the run's dates (``dt`` = start date)."""
    from pyspark.sql import functions as F

    metrics = ctx.read("telemetry.node_metrics", lookback_days=EVENT_LOOKBACK_DAYS)
    long = metrics.select(
        "ts", "node_id", "provider", "region", *[F.col(m).cast("double") for m in METRICS]
    ).unpivot(
        ["ts", "node_id", "provider", "region"], list(METRICS), "metric", "value"
    )  # fmt: skip
    found = long.groupBy("node_id", "metric").applyInPandas(
        series_events, spark_schema(EVENT_SCHEMA)
    )
    day = F.to_date("start_ts")
    on_dates: DataFrame = found.where(day.isin(list(ctx.dates))).select(
        day.alias("dt"), *EVENT_SCHEMA.names
    )
    return on_dates


def summarize_score(ctx: StepContext) -> dict[str, Any]:
    """Point-level precision/recall/F1 of ``is_anomaly`` against the injected labels (aggregated in
    Spark; only four numbers reach the driver)."""
    from pyspark.sql import functions as F

    in_dates = F.col("dt").isin([F.lit(d).cast("date") for d in ctx.dates])
    scored = ctx.spark.table(ctx.name(ANOMALIES.key)).where(in_dates)
    labels = (
        ctx.read("telemetry.anomaly_labels")
        .select("node_id", "ts", F.lit(True).alias("label"))
        .distinct()
    )
    joined = scored.join(labels, on=["node_id", "ts"], how="left").fillna(False, subset=["label"])
    row = joined.agg(
        F.count("*").alias("rows"),
        F.sum((F.col("is_anomaly") & F.col("label")).cast("long")).alias("tp"),
        F.sum((F.col("is_anomaly") & ~F.col("label")).cast("long")).alias("fp"),
        F.sum((~F.col("is_anomaly") & F.col("label")).cast("long")).alias("fn"),
    ).first()
    assert row is not None
    tp, fp, fn = (int(row[k] or 0) for k in ("tp", "fp", "fn"))
    scores = scores_from_counts(tp, fp, fn)
    n_events = ctx.spark.table(ctx.name(ANOMALY_EVENTS.key)).where(in_dates).count()
    return {
        "rows": int(row["rows"]), "flagged": tp + fp, "labelled": tp + fn,
        "precision": scores["precision"], "recall": scores["recall"], "f1": scores["f1"],
        "model_version": ctx.scratch["version"],
        "alert_events": n_events,
        "rows_written": {ctx.name(ANOMALIES.key): int(row["rows"]),
                         ctx.name(ANOMALY_EVENTS.key): n_events},
    }  # fmt: skip


def _write_bytes(uri: str, payload: bytes, options: StorageOptions) -> None:
    fs, path = open_uri(uri, options)
    if isinstance(fs, pafs.LocalFileSystem):
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(payload)


def _read_bytes(uri: str, options: StorageOptions) -> bytes:
    fs, path = open_uri(uri, options)
    with fs.open_input_stream(path) as src:
        return bytes(src.read())
