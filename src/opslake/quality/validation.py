"""Row-level validation: split a raw frame into typed accepted rows and rejects with a reason per row.

Nothing is dropped: every input row ends up in exactly one of the two outputs, so
``len(raw) == len(accepted) + len(rejects)`` always holds. A frame that lacks required columns is a
file-level problem and raises ``SourceFileError`` naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from opslake.exceptions import SourceFileError
from opslake.telemetry.catalog import KNOWN_REGIONS
from opslake.telemetry.schemas import REJECTS, SOURCES, UTILISATION_COLUMNS

# Clock skew we tolerate before calling a timestamp "in the future".
FUTURE_TOLERANCE = pd.Timedelta(minutes=10)
# Lower bound of plausible telemetry timestamps; earlier values are almost always unit mistakes.
EPOCH_FLOOR = pd.Timestamp("2000-01-01", tz="UTC")
# Value rules, each declared once: ``validate`` flags the rows that break them, and the table-level
# gate (``opslake.quality.gate``) builds its range expectations from the same names.
NON_NEGATIVE_COLUMNS = ("net_mbps", "gco2_per_kwh", "price_per_hour")
POSITIVE_COLUMNS = ("cpu", "memory_gb", "duration_h", "vcpus")
REGION_COLUMN = "region"  # must name a region of ``KNOWN_REGIONS``


@dataclass(frozen=True)
class ValidationResult:
    """Typed rows that passed every check, and the rest with their reasons."""

    accepted: pd.DataFrame
    rejects: pd.DataFrame


def validate(
    raw: pd.DataFrame, source: str, source_file: str, now: pd.Timestamp
) -> ValidationResult:
    """Validate ``raw`` rows of ``source`` (a key of ``SOURCES``) read from ``source_file``.

    Args:
        raw: rows as read, any dtypes (strings from CSV/JSON are parsed here).
        source: which table the rows are for, e.g. ``"node_metrics"``.
        source_file: where they came from; recorded with each reject.
        now: the ingest time; timestamps after ``now`` (plus a small tolerance) are rejected.
    """
    schema, keys, ts_column = SOURCES[source]
    check_columns(raw, source, source_file)
    raw = raw.reset_index(drop=True)
    reasons = pd.Series([""] * len(raw), dtype=object)

    def flag(mask: pd.Series | np.ndarray, reason: str, shown: pd.Series | None = None) -> None:
        """Append ``reason`` (plus the offending value, if given) to the rows in ``mask``."""
        mask = pd.Series(mask, index=raw.index).fillna(False).astype(bool)
        if not mask.any():
            return  # the common case: build no strings at all
        text = pd.Series(reason, index=raw.index[mask])
        if shown is not None:
            text = text + shown[mask].astype(str)
        current = reasons[mask]
        reasons[mask] = current.where(current == "", current + "; ") + text

    typed = pd.DataFrame(index=raw.index)
    for field in schema:
        column = raw[field.name] if field.name in raw.columns else pd.Series(None, index=raw.index)
        values, bad = parse_column(column, field.type)
        flag(bad, f"wrong type: {field.name}=", column)
        typed[field.name] = values

    for key in keys:
        flag(typed[key].isna() & ~_was_bad(raw, key, typed), f"null key: {key}")
    for column in UTILISATION_COLUMNS:
        if column in typed:
            out = (typed[column] < 0) | (typed[column] > 1)
            flag(out, f"{column} out of range [0, 1]: ", typed[column])
    for column in NON_NEGATIVE_COLUMNS:
        if column in typed:
            flag(typed[column] < 0, f"{column} is negative")
    for column in POSITIVE_COLUMNS:
        if column in typed:
            flag(typed[column] <= 0, f"{column} must be positive")
    if REGION_COLUMN in typed:
        region = typed[REGION_COLUMN]
        flag(region.notna() & ~region.isin(KNOWN_REGIONS), "unknown region: ", region)
    if "allowed_regions" in typed:
        flag(typed["allowed_regions"].map(_has_unknown_region), "unknown region in allowed_regions")
    if ts_column:
        stamp = typed[ts_column]
        flag(stamp > now + FUTURE_TOLERANCE, f"future timestamp: {ts_column}=", stamp)
        flag(stamp < EPOCH_FLOOR, f"implausible timestamp before 2000: {ts_column}")

    # Duplicates among rows that are otherwise valid: the first occurrence wins.
    ok_so_far = reasons == ""
    duplicated = typed[list(keys)].duplicated(keep="first") & ok_so_far
    flag(duplicated, "duplicate key " + ",".join(keys))

    rejected = reasons != ""
    accepted = typed.loc[~rejected]  # keeps the input row index, so callers can trace provenance
    rejects = pd.DataFrame(
        {
            "source": source,
            "source_file": source_file,
            "row_number": raw.index[rejected].astype("int64"),
            "reason": reasons[rejected].to_numpy(),
            "raw": [_row_json(raw, i) for i in raw.index[rejected]],
        },
        columns=REJECTS.names,
    )
    return ValidationResult(accepted=accepted, rejects=rejects)


def check_columns(raw: pd.DataFrame, source: str, source_file: str) -> None:
    """Raise ``SourceFileError`` naming ``source_file`` if required columns are missing."""
    schema, keys, _ts = SOURCES[source]
    missing = [f.name for f in schema if f.name not in raw.columns and not f.nullable]
    missing += [k for k in keys if k not in raw.columns and k not in missing]
    if missing:
        raise SourceFileError(source_file, f"wrong schema for {source}: missing columns {missing}")


def _present(column: pd.Series) -> pd.Series:
    """Values that carry something: not null and, for text, not blank."""
    present = column.notna()
    if column.dtype == object:
        blank = column.str.strip().eq("")  # non-strings give NaN here, i.e. not blank
        present &= ~blank.fillna(False).astype(bool)
    return present


def parse_column(column: pd.Series, arrow_type: pa.DataType) -> tuple[pd.Series, pd.Series]:
    """Parse ``column`` to ``arrow_type``; returns (values, mask of non-null values that failed).

    The one parsing rule: ``validate`` and the great-expectations gate both use it.
    """
    no_errors = pd.Series(False, index=column.index)
    values: pd.Series
    if pa.types.is_timestamp(arrow_type):
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            return column.dt.tz_convert("UTC"), no_errors
        if pd.api.types.is_numeric_dtype(column):
            values = pd.to_datetime(column, unit="s", utc=True, errors="coerce")
        else:
            values = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
        return values, _present(column) & values.isna()
    if pa.types.is_floating(arrow_type):
        if pd.api.types.is_float_dtype(column):
            return column, no_errors
        values = pd.to_numeric(column, errors="coerce").astype(float)
        return values, _present(column) & values.isna()
    if pa.types.is_integer(arrow_type):
        numbers = pd.to_numeric(column, errors="coerce")
        fractional = numbers.notna() & (numbers != np.floor(numbers))
        values = numbers.where(~fractional).astype("Int64")
        return values, _present(column) & values.isna()
    if column.dtype == object and column.map(type).isin([str, type(None)]).all():
        values = column
    else:
        values = column.map(lambda v: None if _isnull(v) else str(v))
    if column.name in ("allowed_regions", "provider_preference"):
        values = values.fillna("")
    return values, no_errors


def _was_bad(raw: pd.DataFrame, key: str, typed: pd.DataFrame) -> pd.Series:
    """Key values that were present but unparseable are reported as wrong type, not as null keys."""
    return _present(raw[key]) & typed[key].isna()


def _has_unknown_region(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    return any(r.strip() not in KNOWN_REGIONS for r in value.split(","))


def _row_json(raw: pd.DataFrame, index: int) -> str:
    return json.dumps(
        {k: (None if _isnull(v) else v) for k, v in raw.loc[index].items()}, default=str
    )


def _isnull(value: object) -> bool:
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False
