"""Assets and schedules follow from the spec and name the tables as lineage does."""

from __future__ import annotations

from pathlib import Path

from opslake.config import Settings
from opslake.lineage import LineageRecorder
from opslake.orchestration import asset_for, dag_id, inlets, outlets, scheduled_steps
from opslake.pipeline.spec import PIPELINE, STEPS


def test_asset_uri_is_the_lineage_dataset_of_the_table(tmp_path: Path) -> None:
    settings = Settings(catalog_name="lake", home=tmp_path, out_dir=tmp_path)
    recorder = LineageRecorder(settings, sender=lambda _: None)  # type: ignore[arg-type,return-value]
    table = settings.table("telemetry", "node_metrics")
    dataset = f"{recorder.catalog_ns}/{recorder.table(table)}"
    ref = asset_for("telemetry.node_metrics", "lake")
    assert dataset == "iceberg://lake/telemetry.node_metrics"
    assert ref.uri == "iceberg://lake/telemetry/node_metrics"
    assert ref.name == table == "lake.telemetry.node_metrics"


def test_outlets_and_inlets_are_the_declared_tables_of_each_step() -> None:
    assert [a.name for a in outlets("placement")] == [
        "lake.analytics.placements",
        "lake.analytics.placement_runs",
    ]
    assert [a.uri for a in inlets("anomaly_train", "other")] == [
        "iceberg://other/telemetry/node_metrics"
    ]
    for step in PIPELINE:
        assert [a.name for a in outlets(step.name)] == [f"lake.{t}" for t in step.outputs]
        assert [a.name for a in inlets(step.name)] == [f"lake.{t}" for t in step.inputs]


def test_every_step_but_ingest_gets_an_asset_scheduled_dag_named_after_it() -> None:
    assert [s.name for s in scheduled_steps()] == [
        "placement", "anomaly_train", "anomaly_score", "carbon",
    ]  # fmt: skip
    assert dag_id("ingest") == "telemetry_ingest"
    assert {dag_id(s) for s in STEPS} == {
        "telemetry_ingest", "placement", "anomaly_train", "anomaly_score", "carbon",
    }  # fmt: skip


def test_every_scheduled_input_is_some_dag_outlet() -> None:
    produced = {a for s in STEPS for a in outlets(s)}
    for step in scheduled_steps():
        assert set(inlets(step.name)) <= produced, step.name
