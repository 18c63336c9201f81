"""Table-level data-quality gate with great-expectations (1.x): the check people read.

The row-level quarantine (``opslake.quality.validation``) tags each bad row with a reason; this gate
judges a landed table for one data interval as a whole and fails loudly, naming the table, each failed
expectation and its counts. The suite is built from the table's declaration (``pipeline.tables``,
``telemetry.schemas``): columns, keys and ranges are not restated here.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opslake.exceptions import OpslakeError
from opslake.pipeline.tables import TABLES
from opslake.telemetry.schemas import SOURCES, UTILISATION_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

# How late the newest row of an interval may be before the batch counts as stale.
FRESHNESS_LAG = dt.timedelta(minutes=15)
# Non-negative measures per source (utilisation columns are fractions in [0, 1]).
NON_NEGATIVE = {"node_metrics": ("net_mbps",)}


class QualityGateError(OpslakeError):
    """A table failed its expectation suite; the message names every failed expectation."""


@dataclass(frozen=True)
class Failure:
    """One failed expectation: what it checks, and how many rows broke it."""

    expectation: str
    column: str
    unexpected: int | None
    observed: Any

    def __str__(self) -> str:
        what = f"{self.expectation}({self.column})" if self.column else self.expectation
        if self.unexpected is not None:
            return f"{what}: {self.unexpected} rows unexpected"
        return f"{what}: observed {self.observed}"


@dataclass(frozen=True)
class GateResult:
    """The outcome of one table's suite on one interval."""

    table: str
    rows: int
    evaluated: int
    failures: tuple[Failure, ...]

    @property
    def success(self) -> bool:
        return not self.failures

    def message(self) -> str:
        if self.success:
            return f"{self.table}: {self.evaluated} expectations passed on {self.rows} rows"
        failed = "; ".join(str(f) for f in self.failures)
        return (
            f"{self.table}: {len(self.failures)} of {self.evaluated} expectations failed on "
            f"{self.rows} rows: {failed}"
        )


def suite_for(
    source: str, start: dt.datetime, end: dt.datetime, accepted: int, mostly: float = 1.0
) -> Any:
    """The expectation suite of ``telemetry.<source>`` for the interval ``[start, end)``.

    Args:
        source: a telemetry source with a timestamp column (node_metrics, grid_intensity, ...).
        start: interval start (UTC).
        end: interval end (UTC, exclusive).
        accepted: rows the ingest accepted for the interval (its rows in minus its rejects): the
            reconciliation the table must show.
        mostly: share of rows each row-level expectation (keys, ranges, interval) needs; below 1 for a
            raw batch, whose few bad rows the row-level quarantine handles.
    """
    import great_expectations as gx

    spec = TABLES[f"telemetry.{source}"]
    _schema, keys, ts_column = SOURCES[source]
    if not ts_column:
        raise ValueError(f"{source} has no timestamp: no interval suite")
    ex: Any = gx.expectations
    suite = gx.ExpectationSuite(name=f"telemetry.{source}")
    suite.add_expectation(ex.ExpectTableColumnsToMatchOrderedList(column_list=spec.columns))
    suite.add_expectation(ex.ExpectTableRowCountToEqual(value=accepted))
    for key in keys:
        suite.add_expectation(ex.ExpectColumnValuesToNotBeNull(column=key, mostly=mostly))
    suite.add_expectation(ex.ExpectCompoundColumnsToBeUnique(column_list=list(keys), mostly=mostly))
    for column in UTILISATION_COLUMNS:
        if column in spec.columns:
            suite.add_expectation(
                ex.ExpectColumnValuesToBeBetween(
                    column=column, min_value=0.0, max_value=1.0, mostly=mostly
                )
            )
    for column in NON_NEGATIVE.get(source, ()):
        suite.add_expectation(
            ex.ExpectColumnValuesToBeBetween(column=column, min_value=0.0, mostly=mostly)
        )
    suite.add_expectation(
        ex.ExpectColumnValuesToBeBetween(
            column=ts_column, min_value=start, max_value=end, strict_max=True, mostly=mostly
        )
    )
    suite.add_expectation(
        ex.ExpectColumnMaxToBeBetween(column=ts_column, min_value=end - FRESHNESS_LAG)
    )
    return suite


def run_gate(
    frame: pd.DataFrame,
    source: str,
    start: dt.datetime,
    end: dt.datetime,
    accepted: int,
    mostly: float = 1.0,
) -> GateResult:
    """Validate ``frame`` (the table's rows of the interval) against its suite."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}  # type: ignore[assignment]
    batch = (
        context.data_sources.add_pandas("opslake")
        .add_dataframe_asset(source)
        .add_batch_definition_whole_dataframe("interval")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = suite_for(source, start, end, accepted, mostly)
    outcome = batch.validate(suite)
    failures = tuple(_failure(r) for r in outcome.results if not r.success)
    return GateResult(f"telemetry.{source}", len(frame), len(outcome.results), failures)


def _failure(result: Any) -> Failure:
    kwargs = result.expectation_config.kwargs
    column = kwargs.get("column") or ""
    if result.expectation_config.type.startswith("expect_compound_columns"):
        column = ",".join(kwargs["column_list"])
    observed = result.result.get("observed_value")
    if observed is None and result.result.get("unexpected_count") is None:
        observed = _error_of(result.exception_info) or observed  # e.g. the column is missing
    return Failure(
        expectation=result.expectation_config.type,
        column=str(column),
        unexpected=result.result.get("unexpected_count"),
        observed=observed,
    )


def _error_of(info: Any) -> str:
    """The first exception message GX recorded while evaluating an expectation ('' if none)."""
    if not isinstance(info, dict):
        return ""
    entries = [info] if "exception_message" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("exception_message"):
            return f"error: {str(entry['exception_message']).splitlines()[0]}"
    return ""


def require(result: GateResult) -> GateResult:
    """``result`` if it passed.

    Raises:
        QualityGateError: with ``result.message()``.
    """
    if not result.success:
        raise QualityGateError(result.message())
    return result
