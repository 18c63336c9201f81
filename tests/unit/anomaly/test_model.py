"""AnomalyModel: quality on held-out labelled telemetry, determinism and artifact round-trip.

The fleets come from the telemetry generator the pipeline lands (:mod:`opslake.telemetry.generator`),
so the tests score the same injected anomalies, labelled over their whole extent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opslake.anomaly import AnomalyModel, score, train, window_features
from opslake.anomaly.evaluation import combine, event_metrics, label_windows, precision_recall_f1
from opslake.anomaly.model import (
    FeatureMismatchError,
    ModelArtifactError,
    from_bytes,
    scope_of,
    to_bytes,
)
from opslake.telemetry import GeneratorConfig, generate

N_NODES, N_DAYS = 12, 14
TRAIN_SEED = 100  # tuning used train seed 100 and test seeds 200-202; the seeds below are unseen
TEST_SEEDS = (300, 301)
ANOMALOUS_SHARE = 0.5  # more anomalous nodes than the pipeline's 0.35, for steadier figures


def _fleet(nodes: int, days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(node_metrics, anomaly_labels)`` as the pipeline's generator makes them."""
    config = GeneratorConfig(
        days=days, nodes=nodes, workloads=0, seed=seed, anomalous_node_share=ANOMALOUS_SHARE
    )
    telemetry = generate(config)
    return telemetry.node_metrics, telemetry.anomaly_labels


def _features(metrics: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([window_features(g) for _, g in metrics.groupby("node_id")], ignore_index=True)


@pytest.fixture(scope="module")
def model() -> AnomalyModel:
    metrics, _ = _fleet(N_NODES, N_DAYS, TRAIN_SEED)
    return train(_features(metrics), scope=scope_of("AWS", "compute"), version="v-test", seed=0)


@pytest.fixture(scope="module")
def held_out(model: AnomalyModel) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    out = []
    for seed in TEST_SEEDS:
        metrics, labels = _fleet(N_NODES, N_DAYS, seed)
        out.append((score(model, _features(metrics)), labels))
    return out


def _actual(scored: pd.DataFrame, labels: pd.DataFrame) -> np.ndarray:
    key = set(zip(labels["node_id"], labels["ts"], strict=True))
    return np.array([k in key for k in zip(scored["node_id"], scored["ts"], strict=True)])


def test_score_columns(
    model: AnomalyModel, held_out: list[tuple[pd.DataFrame, pd.DataFrame]]
) -> None:
    scored, _ = held_out[0]
    assert scored["is_anomaly"].dtype == bool
    assert scored["score"].between(0.0, 1.0).all()
    assert set(scored["top_metric"]) <= {"cpu_util", "mem_util", "disk_util", "net_mbps"}
    assert (scored["model_version"] == "v-test").all()
    assert model.scope == "aws/compute"


def test_point_level_quality(held_out: list[tuple[pd.DataFrame, pd.DataFrame]]) -> None:
    # Measured on seeds 300/301: precision 0.98, recall 0.69, F1 0.81. Recall is capped by the
    # memory leaks: their whole creep is labelled, and its first hours look like load.
    flags = np.concatenate([s["is_anomaly"].to_numpy() for s, _ in held_out])
    actual = np.concatenate([_actual(s, lab) for s, lab in held_out])
    total = precision_recall_f1(flags, actual)
    assert total["recall"] >= 0.6
    assert total["precision"] >= 0.9
    assert total["f1"] >= 0.7


def test_flagged_share_bounded(held_out: list[tuple[pd.DataFrame, pd.DataFrame]]) -> None:
    flagged = sum(int(s["is_anomaly"].sum()) for s, _ in held_out)
    true = sum(len(lab) for _, lab in held_out)
    assert 0 < flagged <= 3 * true


def test_event_level_quality(held_out: list[tuple[pd.DataFrame, pd.DataFrame]]) -> None:
    # One alert = flagged points less than 1 h apart. Measured: recall 13/16, precision 13/21.
    counts = []
    for scored, labels in held_out:
        for node, g in scored.groupby("node_id"):
            lab = labels[labels["node_id"] == node]
            windows = [
                w for _, lg in lab.groupby(["metric", "anomaly_type"]) for w in label_windows(lg)
            ]
            flagged = g.loc[g["is_anomaly"], "ts"]
            counts.append(event_metrics(flagged, windows, max_gap=pd.Timedelta("1h")))
    total = combine(counts)
    assert total["recall"] >= 0.75
    assert total["precision"] >= 0.55


def test_top_metric_names_the_anomalous_metric(
    held_out: list[tuple[pd.DataFrame, pd.DataFrame]],
) -> None:
    scored, labels = held_out[0]
    hits = scored.merge(labels, on=["node_id", "ts"])
    hits = hits[hits["is_anomaly"]]
    assert len(hits) > 0
    assert (hits["top_metric"] == hits["metric"]).mean() >= 0.9


def test_round_trip_gives_identical_scores(model: AnomalyModel) -> None:
    metrics, _ = _fleet(2, 4, seed=5)
    feats = _features(metrics)
    again = from_bytes(to_bytes(model))
    pd.testing.assert_frame_equal(score(model, feats), score(again, feats))
    assert again.version == model.version and again.threshold == model.threshold


def test_deterministic_under_seed() -> None:
    metrics, _ = _fleet(3, 5, seed=9)
    feats = _features(metrics)
    a = score(train(feats, "s", "v", seed=3), feats)
    b = score(train(feats, "s", "v", seed=3), feats)
    pd.testing.assert_series_equal(a["score"], b["score"])
    c = score(train(feats, "s", "v", seed=4), feats)
    assert not np.allclose(a["score"], c["score"])


def test_bad_artifact_raises() -> None:
    with pytest.raises(ModelArtifactError):
        from_bytes(b"not a pickle")
    import pickle

    with pytest.raises(ModelArtifactError):
        from_bytes(pickle.dumps({"format": 999}))


def test_missing_features_raise(model: AnomalyModel) -> None:
    with pytest.raises(FeatureMismatchError):
        score(model, pd.DataFrame({"cpu_util_dev": [1.0]}))


def test_train_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no feature rows"):
        train(pd.DataFrame(), "s", "v")
    with pytest.raises(ValueError, match="contamination"):
        train(pd.DataFrame({"x_dev": [1.0, 2.0]}), "s", "v", contamination=0.9)


def test_contamination_float_sets_quantile_threshold() -> None:
    metrics, _ = _fleet(2, 5, seed=11)
    feats = _features(metrics)
    m = train(feats, "s", "v", contamination=0.05)
    scores = score(m, feats)["score"]
    assert (scores >= m.threshold).mean() == pytest.approx(0.05, abs=0.01)
