import numpy as np
import pandas as pd
import pytest

from opslake.telemetry import GeneratorConfig, generate
from opslake.telemetry.catalog import KNOWN_REGIONS, REGIONS
from opslake.telemetry.generator import ANOMALY_TYPES, inject_anomaly, malformed_node_metrics

SMALL = GeneratorConfig(days=2, nodes=20, workloads=150, seed=3)


def test_shapes_follow_the_config() -> None:
    tel = generate(SMALL)
    assert len(tel.node_metrics) == 2 * 24 * 12 * 20
    assert tel.node_metrics["node_id"].nunique() == 20
    assert len(tel.workloads) == 150
    assert len(tel.grid_intensity) == 2 * 24 * len(KNOWN_REGIONS)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b = generate(SMALL), generate(SMALL)
    pd.testing.assert_frame_equal(a.node_metrics, b.node_metrics)
    c = generate(GeneratorConfig(days=2, nodes=20, workloads=150, seed=4))
    assert not np.allclose(a.node_metrics["cpu_util"], c.node_metrics["cpu_util"])


def test_values_are_in_physical_ranges_and_regions_are_real() -> None:
    tel = generate(SMALL)
    for column in ("cpu_util", "mem_util", "disk_util"):
        assert tel.node_metrics[column].between(0, 1).all()
    assert (tel.node_metrics["net_mbps"] >= 0).all()
    assert set(tel.node_metrics["region"]) <= KNOWN_REGIONS
    assert set(tel.node_pools["provider"]) == set(REGIONS)


def test_diurnal_cycle_is_visible() -> None:
    tel = generate(GeneratorConfig(days=7, nodes=30, workloads=10, seed=1))
    metrics = tel.node_metrics[tel.node_metrics["region"] == "us-east-1"]
    by_hour = metrics.groupby(metrics["ts"].dt.hour)["cpu_util"].mean()
    # us-east-1 is UTC-5: the afternoon (~20 UTC) is busier than the night (~8 UTC).
    assert by_hour.loc[19:21].mean() > by_hour.loc[7:9].mean() + 0.1


def test_every_anomaly_type_is_injected_and_labelled() -> None:
    tel = generate(GeneratorConfig(days=7, nodes=60, workloads=10, seed=7))
    labels = tel.anomaly_labels
    assert set(labels["anomaly_type"]) == {"spike", "level_shift", "stuck_zero", "memory_leak"}
    assert not labels.duplicated(["node_id", "ts", "metric"]).any()
    # A stuck_zero label points at a metric that really reads zero there.
    stuck = labels[labels["anomaly_type"] == "stuck_zero"].iloc[0]
    row = tel.node_metrics[
        (tel.node_metrics["node_id"] == stuck["node_id"]) & (tel.node_metrics["ts"] == stuck["ts"])
    ]
    assert row[stuck["metric"]].iloc[0] == 0.0
    share = len(labels) / len(tel.node_metrics)
    assert 0.003 < share < 0.05


def test_malformed_batch_has_one_clean_row_and_one_row_per_defect() -> None:
    frame = malformed_node_metrics(SMALL)
    assert len(frame) == 7
    assert frame.iloc[0]["node_id"] == "node-ext-1"


@pytest.mark.parametrize("kind", ANOMALY_TYPES)
def test_injection_labels_every_point_it_changes_and_one_window(kind: str) -> None:
    ts = pd.date_range("2026-11-16", periods=3 * 288, freq="5min", tz="UTC")
    rng = np.random.default_rng(0)
    clean = {
        "cpu_util": 0.4 + 0.02 * rng.standard_normal(len(ts)),
        "mem_util": 0.5 + 0.01 * rng.standard_normal(len(ts)),
        "disk_util": np.full(len(ts), 0.4),
        "net_mbps": 80.0 + rng.standard_normal(len(ts)),
    }
    for seed in range(20):
        values = {k: v.copy() for k, v in clean.items()}
        labels = inject_anomaly(kind, values, ts, "n1", np.random.default_rng(seed))
        assert set(labels["anomaly_type"]) == {kind} and labels["metric"].nunique() == 1
        metric = labels["metric"].iloc[0]
        changed = ts[values[metric] != clean[metric]]
        assert set(changed) <= set(labels["ts"])  # no unlabelled anomaly
        steps = labels["ts"].diff().dropna().unique()
        assert list(steps) in ([], [pd.Timedelta(minutes=5)])  # one contiguous window
        assert labels["ts"].max() == changed.max()
        if kind != "memory_leak":  # a leak starts at the current level, so its first steps may not
            assert labels["ts"].min() == changed.min()  # exceed the noise: labelled all the same
