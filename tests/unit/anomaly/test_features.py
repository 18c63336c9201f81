"""Window features: shape, NaN-free, and the deviations they are built to expose."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opslake.anomaly.features import FEATURE_COLUMNS, METRICS, window_features
from opslake.telemetry import GeneratorConfig, generate


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    telemetry = generate(GeneratorConfig(days=7, nodes=1, workloads=0, anomalous_node_share=0.0))
    assert telemetry.anomaly_labels.empty
    return telemetry.node_metrics


def test_columns_and_no_nan(clean: pd.DataFrame) -> None:
    f = window_features(clean)
    assert list(f.columns) == ["ts", "node_id", "provider", "region", *FEATURE_COLUMNS]
    assert len(f) == len(clean)
    assert not f[FEATURE_COLUMNS].isna().any().any()
    assert np.isfinite(f[FEATURE_COLUMNS].to_numpy()).all()


def test_unsorted_input_is_sorted(clean: pd.DataFrame) -> None:
    shuffled = clean.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(window_features(shuffled), window_features(clean))


def test_spike_has_largest_robust_z(clean: pd.DataFrame) -> None:
    df = clean.copy()
    idx = 1500
    df.loc[idx, "net_mbps"] = df["net_mbps"].iloc[idx] * 6
    f = window_features(df)
    assert int(f["net_mbps_rz"].idxmax()) == idx
    assert int(f["net_mbps_dev"].idxmax()) == idx


def test_zero_run_counts_exactly(clean: pd.DataFrame) -> None:
    df = clean.copy()
    df.loc[1000:1011, "disk_util"] = 0.0  # 12 rows
    f = window_features(df)
    run = f["disk_util_zero_run"].to_numpy()
    assert run[999] == 0
    assert list(run[1000:1012]) == list(range(1, 13))
    assert run[1012] == 0
    assert (f["disk_util_dev"].iloc[1003:1012] == 50.0).all()  # stuck from the 4th zero


def test_features_are_causal(clean: pd.DataFrame) -> None:
    full = window_features(clean)
    head = window_features(clean.iloc[:1200])
    pd.testing.assert_frame_equal(full.iloc[:1200], head)


def test_missing_column_raises(clean: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="mem_util"):
        window_features(clean.drop(columns=["mem_util"]))


def test_clean_series_deviation_stays_low(clean: pd.DataFrame) -> None:
    f = window_features(clean)
    dev = f[[f"{m}_dev" for m in METRICS]].to_numpy()
    assert dev.max() < 8.0  # the default min_evidence
