"""Table-level data-quality gate with great-expectations (1.x): the check people read.

The row-level validation (``opslake.quality.validation``) tags each bad row with a reason; this gate
judges every landed table of one data interval as a whole and fails loudly, naming the table, each
failed expectation and its counts. The suites are derived from the declarations, never restated:
columns, types, keys and the timestamp column from ``telemetry.schemas.SOURCES``; parsing, value
ranges and regions from ``quality.validation``. Each table gets two suites:

- ``telemetry.<source>`` on the rows as the table would hold them (each declared column parsed
  by validation's rule, so a text export is judged like typed Parquet): the column set, non-null
  keys (and the other non-nullable columns), unique keys, value ranges, known regions, timestamps
  inside the interval and, for continuous feeds, freshness (newest sample at most
  ``FRESHNESS_LAG`` old).
- ``telemetry.<source>.rows`` on the row-level verdict (one row per landed row with its reject
  reason, null when accepted, and the values that did not parse): types (values parse as their
  declared type), rows in = accepted + rejected, every landed row judged once, and rejects within
  the tolerance.

Per-run values (interval bounds, rows in) are suite parameters, so a suite is one declaration and
Data Docs show it once. Row-level expectations take ``mostly = 1 - tolerance``: a few bad rows are
the row-level quarantine's business, more fail the batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from opslake.exceptions import OpslakeError, SourceFileError
from opslake.quality.validation import (
    NON_NEGATIVE_COLUMNS,
    POSITIVE_COLUMNS,
    REGION_COLUMN,
    parse_column,
    validate,
)
from opslake.telemetry.catalog import KNOWN_REGIONS
from opslake.telemetry.schemas import SOURCES, UTILISATION_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

# Continuous feeds: at the end of an interval their newest sample is at most this old (a sparse
# source such as workloads or hourly grid intensity may have no row in a 15-minute interval).
FRESHNESS_LAG: dict[str, dt.timedelta] = {"node_metrics": dt.timedelta(minutes=15)}
# The verdict column of the rows suite: the row-level reject reason, null when accepted.
REASON = "reject_reason"
DOCS_SITE = "opslake"
# Validation results listed on the Data Docs index (newest first), and how long results are kept.
DOCS_INDEX_LIMIT = 100
# A run writes ~10 result pages of ~25 kB, 96 runs a day: passed results go after a day, failed
# ones (linked from the failed task's log) after a week.
KEEP_PASSED = dt.timedelta(days=1)
KEEP_FAILED = dt.timedelta(days=7)


class QualityGateError(OpslakeError):
    """A batch failed its expectation suites; the message names every failed expectation."""

    def __init__(self, message: str, result: GateResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Failure:
    """One failed expectation: what it checks, how many rows broke it, and what it expected."""

    expectation: str
    column: str
    unexpected: int | None
    observed: Any
    detail: str = ""

    def __str__(self) -> str:
        what = f"{self.expectation}({self.column})" if self.column else self.expectation
        if self.unexpected is not None:
            text = f"{what}: {self.unexpected} rows unexpected"
        else:
            text = f"{what}: observed {self.observed}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(frozen=True)
class TableResult:
    """One table's suites on one batch."""

    table: str
    rows: int
    accepted: int
    rejected: int
    evaluated: int
    failures: tuple[Failure, ...]

    @property
    def success(self) -> bool:
        return not self.failures

    def message(self) -> str:
        if self.success:
            return (
                f"{self.table}: {self.evaluated} expectations passed on {self.rows} rows "
                f"({self.accepted} accepted, {self.rejected} rejected)"
            )
        failed = "; ".join(str(f) for f in self.failures)
        return (
            f"{self.table}: {len(self.failures)} of {self.evaluated} expectations failed on "
            f"{self.rows} rows: {failed}"
        )


@dataclass(frozen=True)
class GateResult:
    """The outcome of every table's suites on one batch, and where its Data Docs are."""

    batch: str
    tables: tuple[TableResult, ...]
    docs: str = ""  # URL of the Data Docs index page ('' when not built)
    # URL of each failed validation's Data Docs page (suite name -> URL): it stays reachable after
    # later runs, and unlike the index it reads without JavaScript.
    pages: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    quarantined: tuple[str, ...] = ()  # URIs the batch's files moved to

    @property
    def success(self) -> bool:
        return all(t.success for t in self.tables)

    def table(self, name: str) -> TableResult:
        """The result of ``name`` (``telemetry.<source>`` or just ``<source>``)."""
        return next(t for t in self.tables if name in (t.table, t.table.split(".", 1)[-1]))

    def message(self) -> str:
        """Failed tables first with their expectations and counts (or every table if all passed),
        the quarantine, and the Data Docs link."""
        failed = [t for t in self.tables if not t.success]
        parts = [t.message() for t in failed or self.tables]
        if failed and len(failed) < len(self.tables):
            parts.append(f"{len(self.tables) - len(failed)} other tables passed")
        if self.quarantined:
            parts.append(f"batch {self.batch} quarantined ({len(self.quarantined)} files)")
        if self.docs:
            parts.append(f"Data Docs: {self.docs}")
        if self.pages:
            parts.append(f"failed results: {', '.join(self.pages.values())}")
        return " | ".join(parts)


def read_frame(table: pa.Table) -> pd.DataFrame:
    """A landed Arrow table as pandas (what ``run_gate`` takes)."""
    frame: pd.DataFrame = table.to_pandas()
    return frame


def empty_frame(source: str) -> pd.DataFrame:
    """No rows of ``source``, with its declared columns and types (a batch without a file)."""
    return read_frame(SOURCES[source][0].empty_table())


def unparsed(column: str) -> str:
    """The verdict column holding the values of ``column`` that do not parse as its declared type."""
    return f"unparsed {column}"


def table_suite(source: str, mostly: float = 1.0) -> Any:
    """The expectation suite of ``telemetry.<source>`` on one interval's rows, as the table would
    hold them (``typed_view``).

    Parameters at run time: ``interval_start`` and ``interval_end`` (timestamped sources) and
    ``fresh_from`` (sources in ``FRESHNESS_LAG``).
    """
    import great_expectations as gx

    schema, keys, ts_column = SOURCES[source]
    ex: Any = gx.expectations
    expectations: list[Any] = []
    add = expectations.append
    # A set: exports (CSV) carry the declared columns in any order; ingest selects them by name.
    add(ex.ExpectTableColumnsToMatchSet(column_set=schema.names, exact_match=True))
    required = [*keys, *(f.name for f in schema if not f.nullable and f.name not in keys)]
    for column in required:
        add(ex.ExpectColumnValuesToNotBeNull(column=column, mostly=mostly))
    if len(keys) == 1:
        add(ex.ExpectColumnValuesToBeUnique(column=keys[0], mostly=mostly))
    else:
        # Rows missing a key part are the not-null expectations' business, not duplicates.
        add(ex.ExpectCompoundColumnsToBeUnique(
            column_list=list(keys), ignore_row_if="any_value_is_missing", mostly=mostly
        ))  # fmt: skip
    for column in schema.names:
        bounds = _bounds(column)
        if bounds:
            add(ex.ExpectColumnValuesToBeBetween(column=column, mostly=mostly, **bounds))
    if REGION_COLUMN in schema.names:
        add(ex.ExpectColumnValuesToBeInSet(
            column=REGION_COLUMN, value_set=sorted(KNOWN_REGIONS), mostly=mostly
        ))  # fmt: skip
    if ts_column:
        add(ex.ExpectColumnValuesToBeBetween(
            column=ts_column, min_value={"$PARAMETER": "interval_start"},
            max_value={"$PARAMETER": "interval_end"}, strict_max=True, mostly=mostly,
            notes="freshness: every timestamp inside the data interval [start, end)",
        ))  # fmt: skip
    if source in FRESHNESS_LAG:
        add(ex.ExpectColumnMaxToBeBetween(
            column=ts_column, min_value={"$PARAMETER": "fresh_from"},
            notes=f"freshness: the newest sample at most {FRESHNESS_LAG[source]} before the "
            "interval's end",
        ))  # fmt: skip
    # Built whole (not with add_expectation, which needs an active context to save into).
    return gx.ExpectationSuite(name=f"telemetry.{source}", expectations=expectations)


def _bounds(column: str) -> dict[str, Any]:
    """The range rule of ``column`` from the validation's declarations ({} if none)."""
    if column in UTILISATION_COLUMNS:
        return {"min_value": 0.0, "max_value": 1.0}
    if column in NON_NEGATIVE_COLUMNS:
        return {"min_value": 0.0}
    if column in POSITIVE_COLUMNS:
        return {"min_value": 0.0, "strict_min": True}
    return {}


def rows_suite(source: str, mostly: float = 1.0) -> Any:
    """The suite of the row-level verdict on ``telemetry.<source>``'s rows (``verdict``): types (every
    value parses as its declared type), the reconciliation rows in = accepted + rejected, every row
    judged once, and rejects within the tolerance.

    Parameter at run time: ``rows_in``, the landed rows.
    """
    import great_expectations as gx

    schema = SOURCES[source][0]
    ex: Any = gx.expectations
    expectations = [
        ex.ExpectColumnValuesToBeNull(
            column=unparsed(f.name), mostly=mostly,
            notes=f"types: values of {f.name} parse as {f.type} (validation's parsing rule)",
        )
        for f in schema
    ]  # fmt: skip
    expectations += [
        ex.ExpectTableRowCountToEqual(
            value={"$PARAMETER": "rows_in"},
            notes="reconciliation: rows in = accepted + rejected by the row-level validation",
        ),
        ex.ExpectColumnValuesToBeUnique(
            column="row_number", notes="every landed row is judged exactly once"
        ),
        ex.ExpectColumnValuesToBeNull(
            column=REASON, mostly=mostly,
            notes="rejected rows (with a reject reason) stay within the tolerance",
        ),
    ]  # fmt: skip
    return gx.ExpectationSuite(name=f"telemetry.{source}.rows", expectations=expectations)


def typed_view(raw: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``raw`` as the table would hold it, and what did not parse.

    Returns:
        The landed columns with each declared one parsed to its type (a value that does not parse
        becomes null; other columns as landed), and per declared column the raw values that did not
        parse (null elsewhere; all null for a missing column, which the column check reports).
    """
    import pandas as pd

    typed = raw.copy()
    failed = pd.DataFrame(index=raw.index)
    for f in SOURCES[source][0]:
        if f.name not in raw.columns:
            failed[unparsed(f.name)] = pd.Series(None, index=raw.index, dtype=object)
            continue
        values, bad = parse_column(raw[f.name], f.type)
        typed[f.name] = values
        failed[unparsed(f.name)] = raw[f.name].astype(object).where(bad, None)
    return typed, failed


def verdict(
    raw: pd.DataFrame, failed: pd.DataFrame, source: str, batch: str, now: pd.Timestamp
) -> pd.DataFrame:
    """The row-level verdict on ``raw``, one row per landed row: ``row_number``, ``reject_reason``
    (null when accepted) and the values that did not parse (``failed`` of ``typed_view``).

    A file-level problem (missing required columns) rejects every row with that reason.
    """
    import pandas as pd

    try:
        checked = validate(raw, source, batch, now=now)
    except SourceFileError as error:
        rows = pd.DataFrame({"row_number": np.arange(len(raw)), REASON: str(error)})
    else:
        accepted = pd.DataFrame(
            {"row_number": checked.accepted.index.to_numpy(dtype="int64"), REASON: None}
        )
        rejected = pd.DataFrame(
            {"row_number": checked.rejects["row_number"].to_numpy(dtype="int64"),
             REASON: checked.rejects["reason"].to_numpy()}
        )  # fmt: skip
        rows = pd.concat([accepted, rejected], ignore_index=True)
    rows = rows.astype({REASON: object})
    return pd.concat([rows, failed.reindex(rows["row_number"]).reset_index(drop=True)], axis=1)


def run_gate(
    frames: Mapping[str, pd.DataFrame],
    start: dt.datetime,
    end: dt.datetime,
    batch: str,
    tolerance: float = 0.0,
    quality_dir: Path | None = None,
) -> GateResult:
    """Validate each source's landed rows of the interval ``[start, end)`` against its suites.

    Args:
        frames: landed rows per source (``read_frame``); the suites of every source in ``frames``
            run, in ``SOURCES`` order.
        start: interval start (UTC).
        end: interval end (UTC, exclusive).
        batch: the batch id (the GX run name, and the source file of row-level rejects).
        tolerance: share of bad rows each row-level expectation accepts (0 for a table).
        quality_dir: where the validation results are kept and the Data Docs site is built
            (``<quality_dir>/data_docs/index.html``); ``None`` keeps results in memory, no docs.
    """
    import pandas as pd

    clock = time.perf_counter()
    context = _context(quality_dir)
    from great_expectations.core.run_identifier import RunIdentifier

    run_id = RunIdentifier(run_name=batch, run_time=dt.datetime.now(dt.UTC))
    datasource = context.data_sources.add_pandas("landing")
    mostly = 1.0 - tolerance
    tables, suites, identifiers, failed = [], [], [], []
    for source in [s for s in SOURCES if s in frames]:
        raw = frames[source].reset_index(drop=True)
        typed, failed_parse = typed_view(raw, source)
        judged = verdict(raw, failed_parse, source, batch, now=pd.Timestamp(end))
        parameters: dict[str, Any] = {"interval_start": start, "interval_end": end,
                                      "rows_in": len(raw)}  # fmt: skip
        if source in FRESHNESS_LAG:
            parameters["fresh_from"] = end - FRESHNESS_LAG[source]
        failures: list[Failure] = []
        evaluated = 0
        for suite, frame in (
            (table_suite(source, mostly), typed),
            (rows_suite(source, mostly), judged),
        ):
            suite, outcome = _validate(context, datasource, suite, frame, parameters, run_id)
            suites.append(suite)
            identifiers += _identifiers(suite, outcome)
            evaluated += len(outcome.results)
            position = {e.id: i for i, e in enumerate(suite.expectations)}
            broken = [r for r in outcome.results if not r.success]
            broken.sort(key=lambda r: position.get(r.expectation_config.id, len(position)))
            failures += [_failure(r, source, frame, judged) for r in broken]
            if broken:
                failed.append((suite.name, identifiers[-1]))
        rejected = int(judged[REASON].notna().sum())
        tables.append(TableResult(f"telemetry.{source}", len(raw), len(judged) - rejected,
                                  rejected, evaluated, tuple(failures)))  # fmt: skip
    docs, pages = "", {}
    if quality_dir is not None:
        docs = _build_docs(context, identifiers, suites, quality_dir / "data_docs")
        pages = {name: _page_url(context, key) for name, key in failed} if docs else {}
        _prune(quality_dir / "validation_results", KEEP_PASSED, KEEP_FAILED)
    result = GateResult(batch, tuple(tables), docs, pages, time.perf_counter() - clock)
    logger.info("quality gate on %s took %.2f s", batch, result.seconds)
    return result


def _context(quality_dir: Path | None) -> Any:
    """An ephemeral GX context; with ``quality_dir``, results are files and a Data Docs site."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
    )

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults())
    if quality_dir is not None:
        # Results persist, so the index lists the recent runs and a failed run's page stays
        # reachable from its task log after later runs (GX drops pages whose result is gone).
        config.stores["validation_results_store"]["store_backend"] = {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(quality_dir / "validation_results"),
        }
        config.data_docs_sites = {
            DOCS_SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(quality_dir / "data_docs"),
                },
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "validation_results_limit": DOCS_INDEX_LIMIT,
                },
            }
        }
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.variables.progress_bars = {"globally": False}  # type: ignore[assignment]
    return context


def _validate(
    context: Any,
    datasource: Any,
    suite: Any,
    frame: pd.DataFrame,
    parameters: Mapping[str, Any],
    run_id: Any,
) -> tuple[Any, Any]:
    """Run ``suite`` on ``frame`` through a stored validation definition (so the result is kept);
    returns the stored suite (its expectations carry ids) and the validation result."""
    import great_expectations as gx

    suite = context.suites.add(suite)
    asset = datasource.add_dataframe_asset(suite.name)
    batch_definition = asset.add_batch_definition_whole_dataframe("interval")
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite)
    )
    outcome = definition.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=dict(parameters),
        run_id=run_id,
        result_format="BASIC",  # counts and a sample of unexpected values; twice as fast as SUMMARY
    )
    return suite, outcome


def _identifiers(suite: Any, outcome: Any) -> list[Any]:
    """The Data Docs resources of one validation: its suite and its result."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    suite_id = ExpectationSuiteIdentifier(name=suite.name)
    result_id = ValidationResultIdentifier(
        expectation_suite_identifier=suite_id,
        run_id=outcome.meta["run_id"],
        batch_identifier=outcome.batch_id,
    )
    return [suite_id, result_id]


def _build_docs(context: Any, identifiers: list[Any], suites: list[Any], site: Path) -> str:
    """Render this run's results, its suites (unless rendered already as they are) and the index;
    returns the index URL ('' on error)."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    marker = site / ".suites.sha256"  # the suites the site's expectation pages show
    fingerprint = _fingerprint(suites)
    pages = [site / "expectations" / f"{Path(*s.name.split('.'))}.html" for s in suites]
    if marker.is_file() and marker.read_text() == fingerprint and all(p.is_file() for p in pages):
        identifiers = [i for i in identifiers if not isinstance(i, ExpectationSuiteIdentifier)]
    try:
        context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=identifiers)
        marker.write_text(fingerprint)
        urls = context.get_docs_sites_urls(site_name=DOCS_SITE)
        return str(urls[0]["site_url"]) if urls else ""
    except Exception:  # the verdict stands without its report; say so and keep the verdict
        logger.exception("quality gate: building Data Docs failed")
        return ""


def _fingerprint(suites: list[Any]) -> str:
    """A hash of what the suites declare (not their per-context ids)."""
    declared = [
        (s.name, [(e.expectation_type, e.configuration.kwargs, e.notes) for e in s.expectations])
        for s in suites
    ]
    return hashlib.sha256(json.dumps(declared, default=str, sort_keys=True).encode()).hexdigest()


def _page_url(context: Any, key: Any) -> str:
    """The Data Docs URL of one validation result."""
    urls = context.get_docs_sites_urls(resource_identifier=key, site_name=DOCS_SITE)
    return str(urls[0]["site_url"]) if urls else ""


def _prune(results_dir: Path, keep_passed: dt.timedelta, keep_failed: dt.timedelta) -> int:
    """Delete stored validation results that passed and are older than ``keep_passed``, or are
    older than ``keep_failed``; returns how many. GX drops their pages at the next build."""
    if not results_dir.is_dir():
        return 0
    now = time.time()
    gone = 0
    for path in results_dir.rglob("*.json"):
        age = now - path.stat().st_mtime
        if age < keep_passed.total_seconds():
            continue
        if age < keep_failed.total_seconds() and not _passed(path):
            continue
        path.unlink(missing_ok=True)
        gone += 1
    return gone


def _passed(path: Path) -> bool:
    """Whether the stored validation result at ``path`` passed (unreadable counts as passed)."""
    try:
        return bool(json.loads(path.read_text()).get("success", True))
    except (OSError, ValueError):
        return True


def _failure(result: Any, source: str, frame: pd.DataFrame, judged: pd.DataFrame) -> Failure:
    config = result.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or ""
    if config.type.startswith("expect_compound_columns"):
        column = ",".join(kwargs["column_list"])
    outcome = result.result or {}
    observed = outcome.get("observed_value")
    missing = [c for c in str(column).split(",") if c and c not in frame.columns]
    if missing:  # GX's own error for this is not always legible ("list index out of range")
        observed = f"missing column {', '.join(missing)}"
    elif observed is None and outcome.get("unexpected_count") is None:
        observed = _error_of(result.exception_info) or observed
    return Failure(
        expectation=config.type,
        column=str(column),
        unexpected=outcome.get("unexpected_count"),
        observed=observed,
        detail=_detail(source, config.type, kwargs, outcome, observed, column, judged),
    )


def _detail(source: str, kind: str, kwargs: Mapping[str, Any], outcome: Mapping[str, Any],
            observed: Any, column: str, judged: pd.DataFrame) -> str:  # fmt: skip
    """What the expectation wanted, in the words a reader needs to fix the batch."""
    if kind == "expect_table_columns_to_match_set" and isinstance(observed, list):
        expected = list(kwargs["column_set"])
        missing = [c for c in expected if c not in observed]
        extra = [c for c in observed if c not in expected]
        return f"missing {missing}, unexpected {extra}"
    if column.startswith(unparsed("")):
        declared = SOURCES[source][0].field(column.removeprefix(unparsed(""))).type
        sample = list(dict.fromkeys(map(repr, outcome.get("partial_unexpected_list") or [])))
        return f"not {declared}: {', '.join(sample[:3])}"
    if kind == "expect_table_row_count_to_equal":
        return f"expected {kwargs['value']}"
    if kind == "expect_column_max_to_be_between":
        return f"expected >= {kwargs['min_value']}"
    if column == REASON:  # the commonest reasons (a row may have several, joined by "; ")
        reasons = judged[REASON].dropna().str.split("; ").explode().value_counts().head(3)
        return "; ".join(f"{n} x {reason}" for reason, n in reasons.items())
    return ""


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
        raise QualityGateError(result.message(), result)
    return result
