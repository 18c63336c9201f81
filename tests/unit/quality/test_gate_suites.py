"""The great-expectations suites: derived from the declared schemas and rules, they pass on a generated
batch of every source, and each kind of bad batch fails naming the table, the expectation and the
failing counts; the Data Docs site shows the suites and keeps each run's results."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from opslake.quality.gate import (
    REASON,
    GateResult,
    QualityGateError,
    _prune,
    read_frame,
    require,
    rows_suite,
    run_gate,
    table_suite,
    unparsed,
)
from opslake.quality.validation import NON_NEGATIVE_COLUMNS, POSITIVE_COLUMNS
from opslake.telemetry import GeneratorConfig, Telemetry, generate
from opslake.telemetry.schemas import SOURCES, UTILISATION_COLUMNS

pytestmark = pytest.mark.slow  # great-expectations: a few seconds to import, ~0.3 s per table

START = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
END = START + dt.timedelta(hours=1)
BATCH = "gen-20261122T1200-20261122T1300"
TOLERANCE = 0.05
# Expectations per table: columns, not-null, unique, ranges, region, timestamps; then the rows suite:
# one parse check per column, and the reconciliation's three.
EVALUATED = {
    "node_metrics": 1 + 2 + 1 + 4 + 1 + 2 + 9 + 3,
    "workloads": 1 + 2 + 1 + 3 + 0 + 1 + 11 + 3,
    "node_pools": 1 + 1 + 1 + 3 + 1 + 0 + 10 + 3,
    "grid_intensity": 1 + 2 + 1 + 1 + 1 + 1 + 4 + 3,
    "anomaly_labels": 1 + 3 + 1 + 0 + 0 + 1 + 4 + 3,
}  # fmt: skip


@pytest.fixture(scope="module")
def day() -> Telemetry:
    config = GeneratorConfig(
        start=pd.Timestamp("2026-11-22", tz="UTC"), days=1, nodes=20, workloads=400, seed=7
    )
    return generate(config)


def _frames(day: Telemetry) -> dict[str, pd.DataFrame]:
    """Every source's rows of [START, END) as landed (Arrow with the declared schema, read back)."""
    frames = {}
    for source, (schema, _keys, ts_column) in SOURCES.items():
        frame = getattr(day, source)
        if ts_column:
            frame = frame[(frame[ts_column] >= START) & (frame[ts_column] < END)]
        table = pa.Table.from_pandas(
            frame.reset_index(drop=True), schema=schema, preserve_index=False
        )
        frames[source] = read_frame(table)
    return frames


def _failed(result: GateResult, source: str) -> dict[str, int | None]:
    return {f"{f.expectation}({f.column})": f.unexpected for f in result.table(source).failures}


def test_every_sources_suites_pass_on_a_generated_batch(day: Telemetry) -> None:
    frames = _frames(day)
    result = require(run_gate(frames, START, END, BATCH, tolerance=TOLERANCE))
    assert [t.table for t in result.tables] == [f"telemetry.{s}" for s in SOURCES]
    for source, frame in frames.items():
        table = result.table(source)
        assert len(frame) > 0, source
        assert (table.rows, table.accepted, table.rejected) == (len(frame), len(frame), 0)
        assert table.evaluated == EVALUATED[source], source
    assert len(frames["node_metrics"]) == 20 * 12
    assert result.table("node_metrics").message() == (
        "telemetry.node_metrics: 23 expectations passed on 240 rows (240 accepted, 0 rejected)"
    )
    assert result.docs == "" and result.pages == {}


def test_suites_are_derived_from_the_declared_schemas_and_rules() -> None:
    for source, (schema, keys, ts_column) in SOURCES.items():
        by_type: dict[str, list[dict[str, object]]] = {}
        for e in table_suite(source).expectations:
            by_type.setdefault(e.expectation_type, []).append(e.configuration.kwargs)
        assert by_type["expect_table_columns_to_match_set"][0]["column_set"] == schema.names
        required = {*keys, *(f.name for f in schema if not f.nullable)}
        assert {k["column"] for k in by_type["expect_column_values_to_not_be_null"]} == required
        ranged = set(UTILISATION_COLUMNS) | set(NON_NEGATIVE_COLUMNS) | set(POSITIVE_COLUMNS)
        between = {k["column"] for k in by_type.get("expect_column_values_to_be_between", [])}
        assert between == (ranged & set(schema.names)) | ({ts_column} - {""}), source
        in_set = [k["column"] for k in by_type.get("expect_column_values_to_be_in_set", [])]
        assert in_set == (["region"] if "region" in schema.names else [])
        rows = [(e.expectation_type, e.configuration.kwargs.get("column", ""))
                for e in rows_suite(source).expectations]  # fmt: skip
        assert rows == [
            *[("expect_column_values_to_be_null", unparsed(c)) for c in schema.names],
            ("expect_table_row_count_to_equal", ""),
            ("expect_column_values_to_be_unique", "row_number"),
            ("expect_column_values_to_be_null", REASON),
        ]


def test_a_few_bad_rows_pass_and_more_than_the_tolerance_fail_with_counts(day: Telemetry) -> None:
    frames = _frames(day)
    metrics = frames["node_metrics"]
    metrics.loc[metrics.index[:2], "cpu_util"] = 1.5  # 2 of 240: the row-level quarantine's
    result = run_gate(frames, START, END, BATCH, tolerance=TOLERANCE)
    assert result.success
    assert (result.table("node_metrics").accepted, result.table("node_metrics").rejected) == (
        238,
        2,
    )

    metrics.loc[metrics.index[:24], "cpu_util"] = 1.5  # 10 %
    result = run_gate(frames, START, END, BATCH, tolerance=TOLERANCE)
    assert _failed(result, "node_metrics") == {
        "expect_column_values_to_be_between(cpu_util)": 24,
        f"expect_column_values_to_be_null({REASON})": 24,
    }
    assert [t.table for t in result.tables if not t.success] == ["telemetry.node_metrics"]
    assert str(result.table("node_metrics").failures[-1]) == (
        "expect_column_values_to_be_null(reject_reason): 24 rows unexpected "
        "(24 x cpu_util out of range [0, 1]: 1.5)"
    )


def test_half_the_keys_null_fails_not_null_and_the_reconciliation(day: Telemetry) -> None:
    frames = _frames(day)
    metrics = frames["node_metrics"]
    metrics.loc[metrics.index[::2], "node_id"] = None
    result = run_gate(frames, START, END, BATCH, tolerance=TOLERANCE)
    assert _failed(result, "node_metrics") == {
        "expect_column_values_to_not_be_null(node_id)": 120,
        f"expect_column_values_to_be_null({REASON})": 120,
    }
    table = result.table("node_metrics")
    assert (table.accepted, table.rejected) == (120, 120)
    assert table.message() == (
        "telemetry.node_metrics: 2 of 23 expectations failed on 240 rows: "
        "expect_column_values_to_not_be_null(node_id): 120 rows unexpected; "
        "expect_column_values_to_be_null(reject_reason): 120 rows unexpected "
        "(120 x null key: node_id)"
    )


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a CSV export lands: every column text, empty cells null."""
    data = frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
    return pd.read_csv(io.StringIO(data), dtype=str, keep_default_na=False, na_values=[""])


def test_a_text_export_is_judged_like_typed_rows(day: Telemetry) -> None:
    frames = {source: _as_text(frame) for source, frame in _frames(day).items()}
    assert {str(t) for t in frames["node_metrics"].dtypes} == {"object"}
    result = require(run_gate(frames, START, END, BATCH, tolerance=TOLERANCE))
    assert result.table("node_metrics").message() == (
        "telemetry.node_metrics: 23 expectations passed on 240 rows (240 accepted, 0 rejected)"
    )


def test_values_that_do_not_parse_as_the_declared_type_are_counted(day: Telemetry) -> None:
    frames = {source: _as_text(frame) for source, frame in _frames(day).items()}
    metrics = frames["node_metrics"]
    metrics.loc[metrics.index[:24], "cpu_util"] = "n/a"  # 10 %
    metrics.loc[metrics.index[24:26], "ts"] = "yesterday"  # within the tolerance
    workloads = frames["workloads"]
    workloads.loc[workloads.index[:2], "priority"] = "1.5"  # not an int32
    workloads.loc[workloads.index[2:4], "gpu"] = "2.0"  # an int32 written as a float: parses
    result = run_gate(frames, START, END, BATCH, tolerance=TOLERANCE)
    assert [str(f) for f in result.table("node_metrics").failures] == [
        "expect_column_values_to_be_null(unparsed cpu_util): 24 rows unexpected (not double: 'n/a')",
        "expect_column_values_to_be_null(reject_reason): 26 rows unexpected "
        "(24 x wrong type: cpu_util=n/a; 2 x wrong type: ts=yesterday)",
    ]
    assert _failed(result, "workloads") == {
        f"expect_column_values_to_be_null({unparsed('priority')})": 2,
        f"expect_column_values_to_be_null({REASON})": 2,
    }
    assert result.table("workloads").rejected == 2


def test_missing_columns_fail_the_schema_and_a_missing_key_rejects_every_row(
    day: Telemetry,
) -> None:
    frames = _frames(day)
    frames["node_metrics"] = frames["node_metrics"].rename(columns={"net_mbps": "net_kbps"})
    frames["workloads"] = frames["workloads"].drop(columns=["workload_id"])
    result = run_gate(frames, START, END, BATCH, tolerance=TOLERANCE)
    columns = result.table("node_metrics").failures[0]
    assert str(columns).startswith("expect_table_columns_to_match_set: observed [")
    assert columns.detail == "missing ['net_mbps'], unexpected ['net_kbps']"
    missing = [str(f) for f in result.table("node_metrics").failures if f.column == "net_mbps"]
    assert missing == [
        "expect_column_values_to_be_between(net_mbps): observed missing column net_mbps"
    ]
    workloads = result.table("workloads")
    rows = len(frames["workloads"])
    assert (workloads.accepted, workloads.rejected) == (0, rows)
    verdict = workloads.failures[-1]
    assert (verdict.column, verdict.unexpected) == (REASON, rows)
    assert verdict.detail == (
        f"{rows} x {BATCH}: wrong schema for workloads: missing columns ['workload_id']"
    )


def test_duplicates_ranges_regions_interval_and_staleness_are_counted(day: Telemetry) -> None:
    frames = _frames(day)
    metrics = frames["node_metrics"]
    metrics = pd.concat([metrics, metrics.iloc[:3]], ignore_index=True)  # 3 keys twice
    metrics.loc[metrics.index[-1], "ts"] = pd.Timestamp(END)  # the end is exclusive
    metrics.loc[metrics.index[:5], "net_mbps"] = -1.0
    frames["node_metrics"] = metrics
    workloads = frames["workloads"]
    frames["workloads"] = pd.concat([workloads, workloads.iloc[:1]], ignore_index=True)
    frames["node_pools"].loc[0:2, "price_per_hour"] = -0.5
    frames["grid_intensity"].loc[0, "region"] = "mars-north-1"
    result = run_gate(frames, START, END, BATCH)  # a table: no tolerance
    assert _failed(result, "node_metrics") == {
        "expect_compound_columns_to_be_unique(node_id,ts)": 4,  # both rows of 2 remaining keys
        "expect_column_values_to_be_between(net_mbps)": 5,
        "expect_column_values_to_be_between(ts)": 1,
        f"expect_column_values_to_be_null({REASON})": 5 + 2,  # ranges + the later duplicates
    }
    assert _failed(result, "workloads") == {
        "expect_column_values_to_be_unique(workload_id)": 2,
        f"expect_column_values_to_be_null({REASON})": 1,
    }
    assert _failed(result, "node_pools") == {
        "expect_column_values_to_be_between(price_per_hour)": 3,
        f"expect_column_values_to_be_null({REASON})": 3,
    }
    assert _failed(result, "grid_intensity") == {
        "expect_column_values_to_be_in_set(region)": 1,
        f"expect_column_values_to_be_null({REASON})": 1,
    }
    stale = _frames(day)
    stale["node_metrics"] = stale["node_metrics"][
        stale["node_metrics"]["ts"] < END - dt.timedelta(minutes=30)
    ]
    (fresh,) = run_gate(stale, START, END, BATCH).table("node_metrics").failures
    assert fresh.expectation == "expect_column_max_to_be_between" and fresh.column == "ts"
    assert fresh.observed == pd.Timestamp("2026-11-22 12:25", tz="UTC")
    assert str(fresh) == (
        "expect_column_max_to_be_between(ts): observed 2026-11-22 12:25:00+00:00 "
        "(expected >= 2026-11-22 12:45:00+00:00)"
    )


def test_require_raises_naming_table_expectation_and_counts(day: Telemetry) -> None:
    frames = {"node_metrics": _frames(day)["node_metrics"]}
    frames["node_metrics"].loc[0:2, "node_id"] = None
    result = run_gate(frames, START, END, BATCH)
    with pytest.raises(QualityGateError) as error:
        require(result)
    assert str(error.value) == (
        "telemetry.node_metrics: 2 of 23 expectations failed on 240 rows: "
        "expect_column_values_to_not_be_null(node_id): 3 rows unexpected; "
        "expect_column_values_to_be_null(reject_reason): 3 rows unexpected (3 x null key: node_id)"
    )
    assert error.value.result is result


def test_data_docs_show_the_suites_and_keep_each_runs_results(
    day: Telemetry, tmp_path: Path
) -> None:
    good = run_gate(_frames(day), START, END, BATCH, TOLERANCE, quality_dir=tmp_path)
    index = tmp_path / "data_docs" / "index.html"
    assert good.success and good.docs == index.as_uri() and good.pages == {}
    html = index.read_text()
    for source in SOURCES:
        assert f"'expectation_suite_name': 'telemetry.{source}'" in html
        assert f"'expectation_suite_name': 'telemetry.{source}.rows'" in html
    assert (tmp_path / "data_docs" / "expectations" / "telemetry" / "node_metrics.html").is_file()

    frames = _frames(day)
    frames["node_metrics"].loc[frames["node_metrics"].index[::2], "node_id"] = None
    bad = run_gate(frames, START, END, "gen-bad", TOLERANCE, quality_dir=tmp_path)
    assert list(bad.pages) == ["telemetry.node_metrics", "telemetry.node_metrics.rows"]
    page = Path(bad.pages["telemetry.node_metrics"].removeprefix("file://"))
    text = page.read_text()
    assert "gen-bad" in text and "120 unexpected values found" in text
    assert bad.message().endswith(
        f"Data Docs: {index.as_uri()} | failed results: {', '.join(bad.pages.values())}"
    )
    # The earlier run's results stay listed (results persist beside the site).
    html = index.read_text()
    assert f"'run_name': '{BATCH}'" in html and "'run_name': 'gen-bad'" in html
    pages = list((tmp_path / "data_docs" / "validations").rglob("*.html"))
    assert len(pages) == 2 * 2 * len(SOURCES)  # two runs x two suites x tables


def test_passed_results_go_after_a_day_and_failed_ones_after_a_week(tmp_path: Path) -> None:
    ages = {"new-passed": 0, "old-passed": 2, "old-failed": 2, "older-failed": 8}
    for name, days in ages.items():
        path = tmp_path / name / "result.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"success": "passed" in name}))
        when = time.time() - days * 86400
        os.utime(path, (when, when))
    assert _prune(tmp_path, dt.timedelta(days=1), dt.timedelta(days=7)) == 2
    assert {p.parent.name for p in tmp_path.rglob("*.json")} == {"new-passed", "old-failed"}
