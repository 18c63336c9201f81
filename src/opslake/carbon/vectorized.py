"""Cloud Carbon Footprint formulas (numpy / pandas) and the Arrow-batch emissions transform.

The one implementation of the CCF arithmetic. The formula functions accept scalars, numpy arrays or
pandas Series (broadcast together), validate every element (the message names the argument, the
count of bad values and the first bad position) and return float64 numpy arrays.

Units: utilisation is a fraction in [0, 1]; energy is kWh; emissions are in the unit of
``grid intensity x kWh`` (g CO2e when the grid factor is g/kWh). PUE multiplies every energy term,
as in CCF ("after estimating the kilowatt hours for compute, storage and networking, we need to
multiply this by the cloud provider PUE").

:func:`usage_to_emissions` is a plain ``pa.RecordBatch -> pa.RecordBatch`` function; the Spark job
wraps it with ``mapInArrow`` (schema: :data:`EMISSIONS_OUTPUT_SCHEMA`, or
:func:`emissions_output_schema` when extra key columns are passed through).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from opslake.carbon.coefficients import (
    COEFFICIENTS,
    COEFFICIENTS_VERSION,
    HDD_WH_PER_TB_HOUR,
    MEMORY_KWH_PER_GB_HOUR,
    NETWORK_KWH_PER_GB,
    SERVER_LIFESPAN_HOURS,
    SSD_WH_PER_TB_HOUR,
)

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | int | npt.NDArray[np.generic] | pd.Series | list[float] | list[int]
MediumLike = str | npt.NDArray[np.generic] | pd.Series | list[str]

STORAGE_WH_PER_TB_HOUR: dict[str, float] = {"ssd": SSD_WH_PER_TB_HOUR, "hdd": HDD_WH_PER_TB_HOUR}

# --- validation ------------------------------------------------------------------------------


def _as_float(name: str, values: ArrayLike) -> FloatArray:
    """Converts to a float64 array and rejects NaN/inf with the first offending position."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric: {exc}") from exc
    bad = ~np.isfinite(array)
    if bad.any():
        _raise(name, array, bad, "must be finite (no NaN/inf/null)")
    return array


def _raise(name: str, array: FloatArray, bad: npt.NDArray[np.bool_], rule: str) -> None:
    flat_bad = np.atleast_1d(bad)
    flat = np.atleast_1d(array)
    position = int(np.flatnonzero(flat_bad)[0])
    raise ValueError(
        f"{name} {rule}: {int(flat_bad.sum())} invalid value(s), "
        f"first at position {position}: {float(flat[position])!r}"
    )


def _check(name: str, array: FloatArray, bad: npt.NDArray[np.bool_], rule: str) -> FloatArray:
    if np.any(bad):
        _raise(name, array, np.broadcast_to(bad, array.shape), rule)
    return array


def _non_negative(name: str, values: ArrayLike) -> FloatArray:
    array = _as_float(name, values)
    return _check(name, array, array < 0, "must be >= 0")


def _positive(name: str, values: ArrayLike) -> FloatArray:
    array = _as_float(name, values)
    return _check(name, array, array <= 0, "must be > 0")


def _at_least_one(name: str, values: ArrayLike) -> FloatArray:
    array = _as_float(name, values)
    return _check(name, array, array < 1, "must be >= 1")


def _fraction(name: str, values: ArrayLike) -> FloatArray:
    array = _as_float(name, values)
    return _check(name, array, (array < 0) | (array > 1), "must be a fraction in [0, 1]")


def _medium_coefficient(medium: MediumLike) -> FloatArray:
    if isinstance(medium, str):
        key = medium.strip().lower()
        if key not in STORAGE_WH_PER_TB_HOUR:
            raise ValueError(f"storage medium must be 'ssd' or 'hdd', got {medium!r}")
        return np.asarray(STORAGE_WH_PER_TB_HOUR[key], dtype=np.float64)
    keys = pd.Series(np.asarray(medium, dtype=object)).astype("string").str.strip().str.lower()
    coefficient = np.asarray(keys.map(STORAGE_WH_PER_TB_HOUR).astype("float64"), dtype=np.float64)
    unknown = np.isnan(coefficient)
    if unknown.any():
        position = int(np.flatnonzero(unknown)[0])
        raise ValueError(
            f"storage medium must be 'ssd' or 'hdd': {int(unknown.sum())} invalid value(s), "
            f"first at position {position}: {np.asarray(medium)[position]!r}"
        )
    return coefficient


# --- formulas ---------------------------------------------------------------------------


def compute_kwh(
    cpu_utilization: ArrayLike,
    vcpu_hours: ArrayLike,
    min_watts: ArrayLike,
    max_watts: ArrayLike,
    pue: ArrayLike,
    replication_factor: ArrayLike = 1,
) -> FloatArray:
    """Compute energy: ``(min_watts + u·(max_watts − min_watts)) · vCPU-h / 1000 · PUE · RF``.

    Args:
        cpu_utilization: Utilisation fractions in [0, 1].
        vcpu_hours: vCPU-hours, >= 0.
        min_watts: Idle watts per vCPU, >= 0.
        max_watts: Full-load watts per vCPU, >= min_watts.
        pue: PUE, >= 1.
        replication_factor: Replication factors, >= 1.

    Returns:
        kWh per element (inputs broadcast together).

    Raises:
        ValueError: If any element is out of range, NaN or infinite.
    """
    u = _fraction("cpu_utilization", cpu_utilization)
    hours = _non_negative("vcpu_hours", vcpu_hours)
    min_w = _non_negative("min_watts", min_watts)
    max_w = _non_negative("max_watts", max_watts)
    _check("max_watts", max_w, max_w < min_w, "must be >= min_watts")
    p = _at_least_one("pue", pue)
    rf = _at_least_one("replication_factor", replication_factor)
    return np.asarray((min_w + u * (max_w - min_w)) * hours / 1000.0 * p * rf, dtype=np.float64)


def memory_kwh(
    gb_hours: ArrayLike, pue: ArrayLike, replication_factor: ArrayLike = 1
) -> FloatArray:
    """Memory energy: ``GB-h · 0.000392 kWh/GB-h · PUE · RF``.

    Args:
        gb_hours: GB-hours, >= 0.
        pue: PUE, >= 1.
        replication_factor: Replication factors, >= 1.

    Returns:
        kWh per element.

    Raises:
        ValueError: If any element is out of range, NaN or infinite.
    """
    gbh = _non_negative("gb_hours", gb_hours)
    p = _at_least_one("pue", pue)
    rf = _at_least_one("replication_factor", replication_factor)
    return np.asarray(gbh * MEMORY_KWH_PER_GB_HOUR * p * rf, dtype=np.float64)


def storage_kwh(
    tb_hours: ArrayLike,
    pue: ArrayLike,
    medium: MediumLike = "ssd",
    replication_factor: ArrayLike = 1,
) -> FloatArray:
    """Storage energy: ``TB-h · (1.2 Wh SSD | 0.65 Wh HDD) / 1000 · PUE · RF``.

    CCF counts allocated (not used) storage.

    Args:
        tb_hours: TB-hours, >= 0.
        pue: PUE, >= 1.
        medium: ``"ssd"``/``"hdd"``, one value or one per element.
        replication_factor: Replication factors, >= 1.

    Returns:
        kWh per element.

    Raises:
        ValueError: If any element is out of range, NaN, infinite or an unknown medium.
    """
    tbh = _non_negative("tb_hours", tb_hours)
    p = _at_least_one("pue", pue)
    coefficient = _medium_coefficient(medium)
    rf = _at_least_one("replication_factor", replication_factor)
    return np.asarray(tbh * coefficient / 1000.0 * p * rf, dtype=np.float64)


def network_kwh(gb: ArrayLike, pue: ArrayLike) -> FloatArray:
    """Network energy: ``GB transferred between data centres · 0.001 kWh/GB · PUE``.

    Args:
        gb: GB transferred, >= 0.
        pue: PUE, >= 1.

    Returns:
        kWh per element.

    Raises:
        ValueError: If any element is out of range, NaN or infinite.
    """
    g = _non_negative("gb", gb)
    p = _at_least_one("pue", pue)
    return np.asarray(g * NETWORK_KWH_PER_GB * p, dtype=np.float64)


def embodied_co2e(
    total_embodied: ArrayLike,
    hours: ArrayLike,
    vcpus: ArrayLike,
    largest_vcpus: ArrayLike,
    lifespan_hours: ArrayLike = SERVER_LIFESPAN_HOURS,
) -> FloatArray:
    """A server's embodied emissions allocated to a usage (CCF, and the ``M`` of GSF SCI).

    ``total_embodied · hours / lifespan_hours · vcpus / largest_vcpus``: the usage's share of the
    host's life and of the host (the largest instance of the family is the whole host).

    Args:
        total_embodied: Host embodied emissions, >= 0.
        hours: Usage hours, >= 0.
        vcpus: vCPUs used, in [0, largest_vcpus].
        largest_vcpus: vCPUs of the whole host, > 0.
        lifespan_hours: Server lifespan, > 0.

    Returns:
        Allocated embodied emissions per element, in the unit of ``total_embodied``.

    Raises:
        ValueError: If any element is out of range, NaN or infinite.
    """
    total = _non_negative("total_embodied", total_embodied)
    h = _non_negative("hours", hours)
    v = _non_negative("vcpus", vcpus)
    largest = _positive("largest_vcpus", largest_vcpus)
    _check("vcpus", v, v > largest, "must be <= largest_vcpus")
    life = _positive("lifespan_hours", lifespan_hours)
    return np.asarray(total * (h / life) * (v / largest), dtype=np.float64)


def co2e(kwh: ArrayLike, grid_intensity: ArrayLike) -> FloatArray:
    """Operational emissions: ``kWh · grid intensity``.

    Args:
        kwh: Energy, >= 0.
        grid_intensity: Grid intensity, >= 0.

    Returns:
        Emissions per element.

    Raises:
        ValueError: If any element is out of range, NaN or infinite.
    """
    e = _non_negative("kwh", kwh)
    i = _non_negative("grid_intensity", grid_intensity)
    return np.asarray(e * i, dtype=np.float64)


# --- Arrow batch transform -------------------------------------------------------------------

TS_TYPE = pa.timestamp("us", tz="UTC")

USAGE_INPUT_SCHEMA = pa.schema(
    [
        pa.field("provider", pa.string(), nullable=False),
        pa.field("region", pa.string()),
        pa.field("ts", TS_TYPE),
        pa.field("vcpus", pa.float64(), nullable=False),
        pa.field("cpu_util", pa.float64(), nullable=False),
        pa.field("memory_gb", pa.float64(), nullable=False),
        pa.field("storage_tb", pa.float64()),
        pa.field("network_gb", pa.float64()),
        pa.field("hours", pa.float64(), nullable=False),
        pa.field("grid_gco2_per_kwh", pa.float64(), nullable=False),
        pa.field("embodied_kgco2e_total", pa.float64(), nullable=False),
        pa.field("largest_vcpus", pa.float64(), nullable=False),
        pa.field("storage_medium", pa.string()),
        pa.field("storage_replication_factor", pa.float64()),
    ],
    metadata={"coefficients_version": COEFFICIENTS_VERSION},
)
"""One row = one resource (node, VM, pod) for ``hours`` hours (usually 1) at ``ts``.

``memory_gb`` and ``storage_tb`` are allocated amounts (multiplied by ``hours``); ``network_gb`` is
the volume transferred during the row (not multiplied). ``cpu_util`` is a fraction in [0, 1].
Optional columns, filled when absent or null: ``storage_tb`` and ``network_gb`` (0),
``storage_medium`` (``"ssd"``), ``storage_replication_factor`` (1, the CCF default).
"""

OPTIONAL_USAGE_DEFAULTS: dict[str, float | str] = {
    "storage_tb": 0.0,
    "network_gb": 0.0,
    "storage_medium": "ssd",
    "storage_replication_factor": 1.0,
}

EMISSIONS_FIELDS: tuple[pa.Field, ...] = (
    pa.field("compute_kwh", pa.float64(), nullable=False),
    pa.field("memory_kwh", pa.float64(), nullable=False),
    pa.field("storage_kwh", pa.float64(), nullable=False),
    pa.field("network_kwh", pa.float64(), nullable=False),
    pa.field("total_kwh", pa.float64(), nullable=False),
    pa.field("operational_gco2e", pa.float64(), nullable=False),
    pa.field("embodied_gco2e", pa.float64(), nullable=False),
    pa.field("total_gco2e", pa.float64(), nullable=False),
    pa.field("coefficients_version", pa.string(), nullable=False),
)


def emissions_output_schema(input_schema: pa.Schema | None = None) -> pa.Schema:
    """Returns the output schema of :func:`usage_to_emissions` for a given input schema.

    Args:
        input_schema: Schema of the input batches. Columns outside :data:`USAGE_INPUT_SCHEMA`
            (e.g. ``node_id``, ``workload_id``) are passed through, in input order, after the
            usage columns. ``None`` means no extra columns.

    Returns:
        Usage columns (canonical types), extra columns, then the emission columns.
    """
    extras = (
        []
        if input_schema is None
        else [f for f in input_schema if f.name not in USAGE_INPUT_SCHEMA.names]
    )
    return pa.schema(
        [*USAGE_INPUT_SCHEMA, *extras, *EMISSIONS_FIELDS],
        metadata={"coefficients_version": COEFFICIENTS_VERSION},
    )


EMISSIONS_OUTPUT_SCHEMA = emissions_output_schema()

_REQUIRED = tuple(n for n in USAGE_INPUT_SCHEMA.names if n not in OPTIONAL_USAGE_DEFAULTS)


def _cast(column: pa.Array | pa.ChunkedArray, name: str, target: pa.DataType) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    try:
        return pc.cast(column, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"column {name!r} cannot be read as {target}: {exc}") from exc


def _canonical_columns(batch: pa.RecordBatch) -> dict[str, pa.Array]:
    """Casts every usage column to its canonical type, filling optional columns."""
    missing = [n for n in _REQUIRED if n not in batch.schema.names]
    if missing:
        raise ValueError(f"usage batch is missing required column(s): {', '.join(missing)}")
    columns: dict[str, pa.Array] = {}
    for field in USAGE_INPUT_SCHEMA:
        name = field.name
        if name in batch.schema.names:
            column = _cast(batch.column(name), name, field.type)
        else:
            column = pa.nulls(batch.num_rows, field.type)
        if name in OPTIONAL_USAGE_DEFAULTS:
            column = pc.fill_null(column, pa.scalar(OPTIONAL_USAGE_DEFAULTS[name], field.type))
        elif not field.nullable and column.null_count:
            raise ValueError(f"column {name!r} has {column.null_count} null value(s)")
        columns[name] = column
    return columns


def normalise_providers(providers: pa.Array | pa.ChunkedArray | pd.Series) -> pa.Array:
    """Provider names trimmed and lower-cased (``" AWS"`` -> ``"aws"``), as an Arrow string array."""
    if isinstance(providers, pd.Series):
        providers = pa.array(providers.astype(object), pa.string(), from_pandas=True)
    elif isinstance(providers, pa.ChunkedArray):
        providers = providers.combine_chunks()
    return pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(providers, pa.string())))


class RowCoefficients(NamedTuple):
    """The CCF coefficients of each row's provider, one float64 array per coefficient."""

    min_watts: FloatArray
    max_watts: FloatArray
    pue: FloatArray
    lifespan_hours: FloatArray


_PROVIDER_NAMES = pa.array([p.provider for p in COEFFICIENTS.providers], pa.string())
_BY_PROVIDER = RowCoefficients(
    *(
        np.array([getattr(p, name) for p in COEFFICIENTS.providers], dtype=np.float64)
        for name in RowCoefficients._fields
    )
)


def row_coefficients(normalised: pa.Array) -> RowCoefficients:
    """Looks up each row's provider coefficients in the versioned table.

    Args:
        normalised: Provider names from :func:`normalise_providers`.

    Returns:
        Per-row min/max watts, PUE and server lifespan.

    Raises:
        ValueError: If a provider is unknown or null (the message lists them).
    """
    index = pc.index_in(normalised, value_set=_PROVIDER_NAMES)
    if index.null_count:
        unknown = pc.unique(pc.filter(normalised, pc.is_null(index))).to_pylist()
        names = sorted("<null>" if name is None else str(name) for name in unknown)
        raise ValueError(
            f"unknown provider(s) {names}; expected one of {_PROVIDER_NAMES.to_pylist()}"
        )
    rows = np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.intp)
    return RowCoefficients(*(values[rows] for values in _BY_PROVIDER))


def _numpy(column: pa.Array) -> FloatArray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def usage_to_emissions(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Turns a batch of usage rows into energy and emissions with the CCF method.

    Per row, with the provider's coefficients looked up vectorised:
    ``compute_kwh = compute_kwh(cpu_util, vcpus·hours, min_w, max_w, pue)``,
    ``memory_kwh = memory_kwh(memory_gb·hours, pue)``,
    ``storage_kwh = storage_kwh(storage_tb·hours, pue, storage_medium, storage_replication_factor)``,
    ``network_kwh = network_kwh(network_gb, pue)``, ``total_kwh`` their sum,
    ``operational_gco2e = total_kwh · grid_gco2_per_kwh``,
    ``embodied_gco2e = 1000 · embodied_co2e(embodied_kgco2e_total, hours, vcpus, largest_vcpus)``
    and ``total_gco2e`` their sum.

    Args:
        batch: Rows following :data:`USAGE_INPUT_SCHEMA` (numeric columns of any numeric type;
            extra columns are passed through).

    Returns:
        A batch with schema ``emissions_output_schema(batch.schema)``.

    Raises:
        ValueError: If a required column is missing or null, a provider is unknown, or a value is
            out of range (the message names the column, the count and the first bad position).
    """
    columns = _canonical_columns(batch)
    columns["provider"] = normalise_providers(columns["provider"])
    min_w, max_w, pue, lifespan = row_coefficients(columns["provider"])

    # Validate with the column names first, so errors point at the input column and row.
    vcpus = _non_negative("vcpus", _numpy(columns["vcpus"]))
    cpu_util = _fraction("cpu_util", _numpy(columns["cpu_util"]))
    hours = _non_negative("hours", _numpy(columns["hours"]))
    memory_gb = _non_negative("memory_gb", _numpy(columns["memory_gb"]))
    storage_tb = _non_negative("storage_tb", _numpy(columns["storage_tb"]))
    network_gb = _non_negative("network_gb", _numpy(columns["network_gb"]))
    grid = _non_negative("grid_gco2_per_kwh", _numpy(columns["grid_gco2_per_kwh"]))
    embodied_total = _non_negative(
        "embodied_kgco2e_total", _numpy(columns["embodied_kgco2e_total"])
    )
    largest = _positive("largest_vcpus", _numpy(columns["largest_vcpus"]))
    storage_rf = _at_least_one(
        "storage_replication_factor", _numpy(columns["storage_replication_factor"])
    )
    medium = columns["storage_medium"].to_numpy(zero_copy_only=False)

    compute = compute_kwh(cpu_util, vcpus * hours, min_w, max_w, pue)
    memory = memory_kwh(memory_gb * hours, pue)
    storage = storage_kwh(storage_tb * hours, pue, medium, storage_rf)
    network = network_kwh(network_gb, pue)
    total_kwh = compute + memory + storage + network
    operational = co2e(total_kwh, grid)
    embodied_kg = embodied_co2e(embodied_total, hours, vcpus, largest, lifespan)
    embodied = embodied_kg * 1000.0

    schema = emissions_output_schema(batch.schema)
    extras = [
        batch.column(f.name)
        for f in schema
        if f.name not in columns and f.name in batch.schema.names
    ]
    total = operational + embodied
    outputs = [compute, memory, storage, network, total_kwh, operational, embodied, total]
    arrays = [
        *(columns[name] for name in USAGE_INPUT_SCHEMA.names),
        *extras,
        *(pa.array(values, pa.float64()) for values in outputs),
        pa.array(np.full(batch.num_rows, COEFFICIENTS_VERSION, dtype=object), pa.string()),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
