"""The spec is the one place the pipeline is defined: entry points, tables and lineage follow from it."""

from __future__ import annotations

from pathlib import Path

from opslake.pipeline.spec import LANDING_DATASETS, PIPELINE, STEPS
from opslake.pipeline.tables import TABLES
from opslake.telemetry.schemas import SOURCES

ROOT = Path(__file__).resolve().parents[3]


def test_every_step_has_a_spark_submit_entry_point_and_nothing_else_does() -> None:
    entry_points = {p.stem for p in (ROOT / "spark_jobs").glob("*.py") if p.stem != "__init__"}
    assert entry_points == {*STEPS, "lake_maintenance"}  # maintenance serves every table
    for name in STEPS:
        text = (ROOT / "spark_jobs" / f"{name}.py").read_text()
        assert f'main("{name}")' in text


def test_every_input_and_output_is_a_declared_table() -> None:
    for step in PIPELINE:
        assert set(step.inputs) <= set(TABLES), step.name
        assert set(step.outputs) <= set(TABLES), step.name


def test_each_table_has_one_producing_step_except_the_shared_rejects() -> None:
    producers: dict[str, list[str]] = {}
    for step in PIPELINE:
        for key in step.outputs:
            producers.setdefault(key, []).append(step.name)
    assert producers.pop("telemetry.rejects") == ["ingest", "carbon"]
    assert all(len(names) == 1 for names in producers.values()), producers
    assert set(producers) | {"telemetry.rejects"} == set(TABLES)


def test_steps_read_only_what_earlier_steps_write() -> None:
    written: set[str] = set()
    for step in PIPELINE:
        assert set(step.inputs) <= written, (step.name, set(step.inputs) - written)
        written |= set(step.outputs)


def test_ingest_reads_every_landing_source_and_rejects_sources_do_not_overlap() -> None:
    assert set(STEPS["ingest"].raw_inputs) == set(LANDING_DATASETS)
    assert {d.removeprefix("telemetry/") for d in LANDING_DATASETS} == set(SOURCES)
    owners = [s for step in PIPELINE for s in step.reject_sources]
    assert len(owners) == len(set(owners))


def test_every_table_is_partitioned_by_columns_it_has() -> None:
    for spec in TABLES.values():
        assert set(spec.partition_by) <= set(spec.columns), spec.key


def test_column_lineage_names_declared_columns_of_the_steps_own_tables() -> None:
    declared = [step for step in PIPELINE if step.column_lineage]
    assert {step.name for step in declared} == {"placement", "carbon"}
    for step in declared:
        assert step.column_lineage is not None
        for output, columns in step.column_lineage.items():
            assert output in step.outputs, (step.name, output)
            assert set(columns) <= set(TABLES[output].columns), (output, set(columns))
            for sources in columns.values():
                for source in sources:
                    table, column = source.rsplit(".", 1)
                    assert table in step.inputs, (step.name, source)
                    assert column in TABLES[table].columns, source
