"""Time shifting, location shifting and the merged ranking on hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opslake.carbon import location_shift, time_shift, top_recommendations
from opslake.carbon.recommendations import RECOMMENDATION_COLUMNS, workload_energy_kwh

T0 = pd.Timestamp("2026-11-22T00:00", tz="UTC")
CURVE = [500.0, 400.0, 300.0, 100.0, 100.0, 300.0, 600.0, 600.0, 600.0, 600.0]


def _intensity() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": "r1",
            "ts": pd.date_range(T0, periods=len(CURVE), freq="h"),
            "gco2_per_kwh": CURVE,
        }
    )


def _workloads() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "workload_id": ["w1", "w2", "w3", "w4", "w5"],
            "region": ["r1", "r1", "r1", "r1", "mars-1"],
            "start_ts": [T0, T0, T0 + pd.Timedelta("1h 20min"), T0 + pd.Timedelta("7h"), T0],
            "duration_h": [2.0, 2.0, 1.5, 2.0, 1.0],
            "deferrable_hours": [4, 0, 3, 5, 4],
            "energy_kwh": [10.0, 10.0, 3.0, 1.0, 1.0],
        }
    )


def test_time_shift_finds_the_exact_best_window() -> None:
    result = time_shift(_intensity(), _workloads()).set_index("workload_id")
    # w1, 2 h from 00:00, may wait 4 h. Window means by start hour:
    # 00: (500+400)/2=450, 01: 350, 02: 200, 03: (100+100)/2=100, 04: 200 → best 03:00.
    w1 = result.loc["w1"]
    assert w1["best_start"] == T0 + pd.Timedelta("3h") and w1["shift_hours"] == 3
    assert w1["current_gco2e"] == pytest.approx(10 * 450)  # 4500 g
    assert w1["best_gco2e"] == pytest.approx(10 * 100)  # 1000 g
    assert w1["saving_gco2e"] == pytest.approx(3500)
    assert w1["saving_pct"] == pytest.approx(3500 / 4500 * 100)
    # w2 cannot wait: best is now, no saving.
    assert result.loc["w2", "shift_hours"] == 0 and result.loc["w2", "saving_gco2e"] == 0
    # w3, 1.5 h, start floored to 01:00, may wait 3 h; the half hour weighs 0.5:
    # 01: (400+0.5·300)/1.5=366.67, 02: (300+0.5·100)/1.5=233.33, 03: (100+0.5·100)/1.5=100,
    # 04: (100+0.5·300)/1.5=166.67 → best 03:00; 3 kWh × 366.67 = 1100 g vs 3 × 100 = 300 g.
    w3 = result.loc["w3"]
    assert w3["current_start"] == T0 + pd.Timedelta("1h")
    assert w3["best_start"] == T0 + pd.Timedelta("3h")
    assert w3["current_gco2e"] == pytest.approx(1100) and w3["best_gco2e"] == pytest.approx(300)
    # w4 at 07:00 may wait 5 h but data ends at 09:59: only 07:00 and 08:00 fit, both 600.
    assert result.loc["w4", "shift_hours"] == 0 and result.loc["w4", "saving_gco2e"] == 0
    # w5's region has no data: kept, with NaN/NaT rather than dropped.
    assert np.isnan(result.loc["w5", "current_gco2e"]) and pd.isna(result.loc["w5", "best_start"])
    assert list(result.index) == ["w1", "w2", "w3", "w4", "w5"]


def test_time_shift_prefers_the_earliest_tie_and_skips_gaps() -> None:
    intensity = _intensity()
    intensity = intensity[intensity["ts"] != T0 + pd.Timedelta("3h")]  # hour 03 missing
    flat = pd.DataFrame(
        {"region": "flat", "ts": pd.date_range(T0, periods=6, freq="h"), "gco2_per_kwh": 50.0}
    )
    workloads = pd.DataFrame(
        {
            "workload_id": ["gap", "tie"],
            "region": ["r1", "flat"],
            "start_ts": [T0, T0],
            "duration_h": [2.0, 1.0],
            "deferrable_hours": [4, 4],
            "energy_kwh": [1.0, 1.0],
        }
    )
    result = time_shift(pd.concat([intensity, flat]), workloads).set_index("workload_id")
    # Without hour 03 the windows starting 02:00 and 03:00 are out; the rest:
    # 00: 450, 01: 350, 04: (100+300)/2 = 200 → best 04:00.
    assert result.loc["gap", "best_start"] == T0 + pd.Timedelta("4h")
    assert result.loc["tie", "shift_hours"] == 0 and result.loc["tie", "saving_gco2e"] == 0


def test_time_shift_uses_submitted_at_and_estimates_energy() -> None:
    workloads = pd.DataFrame(
        {
            "workload_id": ["w"],
            "region": ["r1"],
            "submitted_at": [T0],
            "duration_h": [2.0],
            "deferrable_hours": [4],
            "provider": ["aws"],
            "cpu": [4.0],
            "memory_gb": [16.0],
        }
    )
    # CCF at 50 %: (0.74+0.5·2.76) W × 8 vCPU-h = 16.96 Wh; memory 32 GB-h × 0.000392 = 12.544 Wh;
    # (0.01696 + 0.012544) kWh × PUE 1.135 = 0.03348704 kWh.
    assert workload_energy_kwh(workloads).iloc[0] == pytest.approx(0.03348704, rel=1e-12)
    result = time_shift(_intensity(), workloads)
    assert result.loc[0, "saving_gco2e"] == pytest.approx(0.03348704 * (450 - 100), rel=1e-12)


@pytest.mark.parametrize(
    ("intensity", "workloads", "message"),
    [
        (
            _intensity().drop(columns="ts"),
            _workloads(),
            "intensity is missing required column(s): ts",
        ),
        (pd.concat([_intensity(), _intensity().head(1)]), _workloads(), "duplicate (region, hour)"),
        (_intensity(), _workloads().assign(duration_h=0.0), "duration_h must be finite and > 0"),
        (_intensity(), _workloads().assign(deferrable_hours=-1), "deferrable_hours must be"),
        (_intensity().assign(gco2_per_kwh=-1.0), _workloads(), "gco2_per_kwh must be >= 0"),
        (
            _intensity(),
            _workloads().drop(columns="energy_kwh"),
            "missing required column(s): provider",
        ),
    ],
)
def test_time_shift_bad_input(
    intensity: pd.DataFrame, workloads: pd.DataFrame, message: str
) -> None:
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        time_shift(intensity, workloads)


def _regions() -> pd.DataFrame:
    # Hourly rows are averaged per region: A = 400, B = 100, C = 200, D = 50.
    return pd.DataFrame(
        {
            "region": ["A", "A", "B", "C", "D"],
            "ts": [T0, T0 + pd.Timedelta("1h"), T0, T0, T0],
            "gco2_per_kwh": [300.0, 500.0, 100.0, 200.0, 50.0],
        }
    )


def _location_workloads() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "workload_id": ["w2", "w1", "w3", "w4", "w5"],
            "region": ["A", "A", "C", "B", "A"],
            "allowed_regions": ["B,C", "B, C", "D", "A,C", None],
            "energy_kwh": [5.0, 10.0, 20.0, 1.0, 2.0],
            "cpu": [4.0, 4.0, 1.0, 1.0, 2.0],
        }
    )


def test_location_shift_respects_allowed_regions_and_capacity() -> None:
    capacity = pd.DataFrame({"region": ["A", "B", "C", "D"], "available": [100.0, 4.0, 100.0, 0.0]})
    result = location_shift(_regions(), capacity, _location_workloads()).set_index("workload_id")
    # Greedy by energy: w3 (20 kWh) wants D (50) but D has no capacity → stays in C.
    assert result.loc["w3", "best_region"] == "C" and result.loc["w3", "saving_gco2e"] == 0
    # w1 (10 kWh) takes B's 4 vCPUs: 10 × (400 − 100) = 3000 g saved.
    assert result.loc["w1", "best_region"] == "B"
    assert result.loc["w1", "saving_gco2e"] == pytest.approx(3000)
    assert result.loc["w1", "saving_pct"] == pytest.approx(75)
    # w2 (5 kWh), listed first but served after w1: B is full → C: 5 × (400 − 200) = 1000 g.
    assert result.loc["w2", "best_region"] == "C"
    assert result.loc["w2", "saving_gco2e"] == pytest.approx(1000)
    # w4 sits in the cleanest allowed option already.
    assert result.loc["w4", "best_region"] == "B" and result.loc["w4", "saving_gco2e"] == 0
    # w5 may go anywhere: D and B are full, C (200) beats A (400): 2 × 200 = 400 g.
    assert result.loc["w5", "best_region"] == "C"
    assert result.loc["w5", "saving_gco2e"] == pytest.approx(400)
    assert list(result.index) == ["w2", "w1", "w3", "w4", "w5"]


def test_location_shift_reads_node_pool_capacity() -> None:
    pools = pd.DataFrame(
        {"pool_id": ["p1", "p2"], "region": ["B", "C"], "vcpus": [2.0, 8.0], "max_nodes": [1, 10]}
    )
    result = location_shift(_regions(), pools, _location_workloads()).set_index("workload_id")
    # B offers 2 × 1 = 2 vCPUs: too few for w1 (4), enough for w4/w5 only if they ask ≤ 2.
    assert result.loc["w1", "best_region"] == "C"
    assert result.loc["w5", "best_region"] == "B"  # 2 vCPUs fit exactly in B (100 g/kWh)


def test_top_recommendations_merges_and_ranks_by_saving() -> None:
    times = time_shift(_intensity(), _workloads())
    places = location_shift(
        _regions(),
        pd.DataFrame({"region": ["B", "C"], "available": [4.0, 100.0]}),
        _location_workloads(),
    )
    top = top_recommendations(times, places, n=None)
    assert list(top.columns) == list(RECOMMENDATION_COLUMNS)
    assert (top["saving_gco2e"] > 0).all()
    assert top["saving_gco2e"].is_monotonic_decreasing
    assert top["rank"].tolist() == list(range(1, len(top) + 1))
    first = top.iloc[0]
    # Biggest saving: time-shifting w1 (3500 g) beats moving w1 (3000 g).
    assert (first["workload_id"], first["kind"]) == ("w1", "time_shift")
    assert first["current"] == "2026-11-22T00:00:00+00:00"
    assert first["suggested"] == "2026-11-22T03:00:00+00:00"
    second = top.iloc[1]
    assert (second["kind"], second["current"], second["suggested"]) == ("location_shift", "A", "B")
    assert len(top_recommendations(times, places, n=2)) == 2
