"""A small hand-made lake with known answers for the decision API (/api/v1).

The tables have the pipeline's own schemas (``opslake.pipeline.tables``, as Trino DDL), so the API's SQL
runs against the columns and types production has. Spark (tests/unit/gateway/test_api.py, DDL
transpiled) and Trino (tests/stack/test_gateway_api.py) load the same rows and give the same answers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from opslake.pipeline.tables import (
    ANOMALY_EVENTS,
    CARBON_DAILY,
    CARBON_RECOMMENDATIONS,
    PLACEMENT_RUNS,
    PLACEMENTS,
    TableSpec,
)

if TYPE_CHECKING:
    from starlette.testclient import TestClient

TRINO_TYPES = {
    pa.string(): "varchar",
    pa.float64(): "double",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.bool_(): "boolean",
    pa.date32(): "date",
    pa.timestamp("us", tz="UTC"): "timestamp(6) with time zone",
}


def _sql(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.strftime('%Y-%m-%d %H:%M:%S')} UTC'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


D1, D2 = date(2026, 11, 1), date(2026, 11, 2)

# Rows per table as dicts (missing columns are NULL).
ROWS: dict[TableSpec, list[dict[str, Any]]] = {
    PLACEMENT_RUNS: [
        # p1 ran on both days: its latest plan is the one of D2.
        {"dt": D1, "pool_id": "p1", "algorithm": "ffd", "workloads": 1, "nodes_used": 3,
         "lower_bound": 2, "gap": 0.5, "cpu_utilisation": 0.5, "mem_utilisation": 0.4,
         "cost_per_hour": 3.0, "grid_gco2_per_kwh": 300.0},
        {"dt": D2, "pool_id": "p1", "algorithm": "annealing", "workloads": 4, "nodes_used": 2,
         "lower_bound": 2, "gap": 0.0, "cpu_utilisation": 0.8, "mem_utilisation": 0.7,
         "cost_per_hour": 2.5, "grid_gco2_per_kwh": 250.0},
        {"dt": D1, "pool_id": "p2", "algorithm": "annealing", "workloads": 1, "nodes_used": 1,
         "lower_bound": 1, "gap": 0.0, "cpu_utilisation": 0.9, "mem_utilisation": 0.2,
         "cost_per_hour": 1.0, "grid_gco2_per_kwh": None},
        {"dt": D2, "pool_id": "p3", "algorithm": "annealing", "workloads": 0, "nodes_used": 0,
         "lower_bound": 0, "gap": None, "cpu_utilisation": None, "mem_utilisation": None,
         "cost_per_hour": 0.0, "grid_gco2_per_kwh": 120.0},
    ],
    PLACEMENTS: [
        {"dt": D1, "workload_id": "w1", "pool_id": "p1", "node_index": 0, "placed": True,
         "reason": None, "score": 1.0, "algorithm": "ffd"},
        {"dt": D2, "workload_id": "w4", "pool_id": "p1", "node_index": 1, "placed": True,
         "reason": None, "score": 0.5, "algorithm": "annealing"},
        {"dt": D2, "workload_id": "w2", "pool_id": "p1", "node_index": 0, "placed": True,
         "reason": None, "score": 0.25, "algorithm": "annealing"},
        {"dt": D2, "workload_id": "w3", "pool_id": "p1", "node_index": 0, "placed": True,
         "reason": None, "score": 0.75, "algorithm": "annealing"},
        {"dt": D2, "workload_id": "w5", "pool_id": "p1", "node_index": None, "placed": False,
         "reason": "no node fits", "score": None, "algorithm": "annealing"},
        {"dt": D2, "workload_id": "w9", "pool_id": None, "node_index": None, "placed": False,
         "reason": "no pool satisfies the constraints", "score": None, "algorithm": "annealing"},
        {"dt": D1, "workload_id": "w6", "pool_id": "p2", "node_index": 0, "placed": True,
         "reason": None, "score": 2.0, "algorithm": "annealing"},
    ],
    ANOMALY_EVENTS: [
        {"dt": D1, "node_id": "n1", "provider": "aws", "region": "eu-west-1", "metric": "cpu_util",
         "start_ts": _ts("2026-11-01 00:00"), "end_ts": _ts("2026-11-01 00:10"),
         "peak_ts": _ts("2026-11-01 00:05"), "peak_score": 3.5, "rows": 3, "reason": "value",
         "detector_version": "d1"},
        {"dt": D1, "node_id": "n1", "provider": "aws", "region": "eu-west-1", "metric": "mem_util",
         "start_ts": _ts("2026-11-01 00:00"), "end_ts": _ts("2026-11-01 00:20"),
         "peak_ts": _ts("2026-11-01 00:15"), "peak_score": 5.0, "rows": 5, "reason": "diff",
         "detector_version": "d1"},
        # Crosses midnight: its dt is the start date.
        {"dt": D1, "node_id": "n1", "provider": "aws", "region": "eu-west-1", "metric": "cpu_util",
         "start_ts": _ts("2026-11-01 23:50"), "end_ts": _ts("2026-11-02 00:30"),
         "peak_ts": _ts("2026-11-02 00:00"), "peak_score": 4.0, "rows": 9, "reason": "value",
         "detector_version": "d1"},
        {"dt": D2, "node_id": "n1", "provider": "aws", "region": "eu-west-1", "metric": "disk_util",
         "start_ts": _ts("2026-11-02 03:00"), "end_ts": _ts("2026-11-02 04:00"),
         "peak_ts": _ts("2026-11-02 03:30"), "peak_score": 2.5, "rows": 13, "reason": "season",
         "detector_version": "d1"},
        {"dt": date(2026, 11, 3), "node_id": "n1", "provider": "aws", "region": "eu-west-1",
         "metric": "cpu_util", "start_ts": _ts("2026-11-03 00:00"),
         "end_ts": _ts("2026-11-03 00:05"), "peak_ts": _ts("2026-11-03 00:00"), "peak_score": 2.0,
         "rows": 2, "reason": "value", "detector_version": "d1"},
        {"dt": D1, "node_id": "n2", "provider": "gcp", "region": "europe-west4", "metric": "mem_util",
         "start_ts": _ts("2026-11-01 01:00"), "end_ts": _ts("2026-11-01 01:00"),
         "peak_ts": _ts("2026-11-01 01:00"), "peak_score": 7.0, "rows": 1, "reason": "diff",
         "detector_version": "d1"},
    ],
    CARBON_DAILY: [
        # Two rows for one key: the view sums them.
        {"dt": D1, "provider": "aws", "region": "eu-west-1", "nodes": 2, "vcpu_hours": 10.0,
         "total_kwh": 1.5, "operational_gco2e": 300.0, "embodied_gco2e": 100.0,
         "total_gco2e": 400.0},
        {"dt": D1, "provider": "aws", "region": "eu-west-1", "nodes": 1, "vcpu_hours": 30.0,
         "total_kwh": 2.5, "operational_gco2e": 500.0, "embodied_gco2e": 100.0,
         "total_gco2e": 600.0},
        {"dt": D1, "provider": "gcp", "region": "europe-west4", "nodes": 1, "vcpu_hours": 0.0,
         "total_kwh": 0.0, "operational_gco2e": 0.0, "embodied_gco2e": 0.0, "total_gco2e": 0.0},
        {"dt": D2, "provider": "aws", "region": "eu-west-1", "nodes": 1, "vcpu_hours": 8.0,
         "total_kwh": 1.0, "operational_gco2e": 150.0, "embodied_gco2e": 50.0,
         "total_gco2e": 200.0},
        {"dt": D2, "provider": "aws", "region": "us-east-1", "nodes": 2, "vcpu_hours": 16.0,
         "total_kwh": 2.0, "operational_gco2e": 700.0, "embodied_gco2e": 100.0,
         "total_gco2e": 800.0},
        {"dt": D2, "provider": "azure", "region": "westeurope", "nodes": 1, "vcpu_hours": 4.0,
         "total_kwh": 0.5, "operational_gco2e": 90.0, "embodied_gco2e": 10.0,
         "total_gco2e": 100.0},
    ],
    CARBON_RECOMMENDATIONS: [
        {"dt": D1, "workload_id": "w1", "kind": "time_shift", "current": "02:00",
         "suggested": "13:00", "current_gco2e": 100.0, "suggested_gco2e": 60.0,
         "saving_gco2e": 40.0, "saving_pct": 40.0},
        {"dt": D1, "workload_id": "w2", "kind": "location_shift", "current": "eu-west-1",
         "suggested": "eu-north-1", "current_gco2e": 100.0, "suggested_gco2e": 10.0,
         "saving_gco2e": 90.0, "saving_pct": 90.0},
        {"dt": D1, "workload_id": "w3", "kind": "time_shift", "current": "02:00",
         "suggested": "04:00", "current_gco2e": 100.0, "suggested_gco2e": 60.0,
         "saving_gco2e": 40.0, "saving_pct": 40.0},
        # Same workload, other kind, same saving as w1 and w3: the sort key breaks the tie.
        {"dt": D1, "workload_id": "w2", "kind": "time_shift", "current": "01:00",
         "suggested": "12:00", "current_gco2e": 80.0, "suggested_gco2e": 40.0,
         "saving_gco2e": 40.0, "saving_pct": 50.0},
        {"dt": D2, "workload_id": "w4", "kind": "location_shift", "current": "us-east-1",
         "suggested": "eu-north-1", "current_gco2e": 20.0, "suggested_gco2e": 10.0,
         "saving_gco2e": 10.0, "saving_pct": 50.0},
        {"dt": D2, "workload_id": "w5", "kind": "time_shift", "current": "18:00",
         "suggested": "03:00", "current_gco2e": 50.0, "suggested_gco2e": 25.0,
         "saving_gco2e": 25.0, "saving_pct": 50.0},
    ],
}  # fmt: skip


def ddl(analytics: str = "analytics") -> dict[str, tuple[str, list[str]]]:
    """Trino column definitions and VALUES rows per ``<analytics>.<table>``."""
    out = {}
    for spec, rows in ROWS.items():
        name = spec.key.split(".", 1)[1]
        columns = ", ".join(f"{f.name} {TRINO_TYPES[f.type]}" for f in spec.schema)
        values = ["(" + ", ".join(_sql(row.get(f.name)) for f in spec.schema) + ")" for row in rows]
        out[f"{analytics}.{name}"] = (columns, values)
    return out


# The view the carbon endpoint reads (the others read tables).
VIEWS = ["03_carbon_by_provider_region_day.sql"]

# --- expected answers (JSON as the API sends it) ---------------------------------------------------

PLANS = [
    {"pool_id": "p1", "dt": "2026-11-02", "algorithm": "annealing", "workloads": 4, "nodes_used": 2,
     "lower_bound": 2, "gap": 0.0, "cpu_utilisation": 0.8, "mem_utilisation": 0.7,
     "cost_per_hour": 2.5, "grid_gco2_per_kwh": 250.0},
    {"pool_id": "p2", "dt": "2026-11-01", "algorithm": "annealing", "workloads": 1, "nodes_used": 1,
     "lower_bound": 1, "gap": 0.0, "cpu_utilisation": 0.9, "mem_utilisation": 0.2,
     "cost_per_hour": 1.0, "grid_gco2_per_kwh": None},
    {"pool_id": "p3", "dt": "2026-11-02", "algorithm": "annealing", "workloads": 0, "nodes_used": 0,
     "lower_bound": 0, "gap": None, "cpu_utilisation": None, "mem_utilisation": None,
     "cost_per_hour": 0.0, "grid_gco2_per_kwh": 120.0},
]  # fmt: skip

P1_ASSIGNMENTS = [
    {"workload_id": "w2", "node_index": 0, "placed": True, "reason": None, "score": 0.25,
     "algorithm": "annealing"},
    {"workload_id": "w3", "node_index": 0, "placed": True, "reason": None, "score": 0.75,
     "algorithm": "annealing"},
    {"workload_id": "w4", "node_index": 1, "placed": True, "reason": None, "score": 0.5,
     "algorithm": "annealing"},
    {"workload_id": "w5", "node_index": None, "placed": False, "reason": "no node fits",
     "score": None, "algorithm": "annealing"},
]  # fmt: skip


# (metric, start_ts, end_ts) of n1's events from 2026-11-01T00:00Z to 2026-11-03T00:00Z, in order.
N1_EVENTS_ALL = [
    ("cpu_util", "2026-11-01T00:00:00Z", "2026-11-01T00:10:00Z"),
    ("mem_util", "2026-11-01T00:00:00Z", "2026-11-01T00:20:00Z"),
    ("cpu_util", "2026-11-01T23:50:00Z", "2026-11-02T00:30:00Z"),
    ("disk_util", "2026-11-02T03:00:00Z", "2026-11-02T04:00:00Z"),
]

N1_EVENT_FIRST = {
    "node_id": "n1", "metric": "cpu_util", "start_ts": "2026-11-01T00:00:00Z",
    "end_ts": "2026-11-01T00:10:00Z", "peak_ts": "2026-11-01T00:05:00Z", "peak_score": 3.5,
    "rows": 3, "reason": "value", "provider": "aws", "region": "eu-west-1", "dt": "2026-11-01",
    "detector_version": "d1",
}  # fmt: skip

# (dt, provider, region, nodes, kwh, kgco2e) of every carbon day, in order.
CARBON_ALL = [
    ("2026-11-01", "aws", "eu-west-1", 3, 4.0, 1.0),
    ("2026-11-01", "gcp", "europe-west4", 1, 0.0, 0.0),
    ("2026-11-02", "aws", "eu-west-1", 1, 1.0, 0.2),
    ("2026-11-02", "aws", "us-east-1", 2, 2.0, 0.8),
    ("2026-11-02", "azure", "westeurope", 1, 0.5, 0.1),
]

CARBON_FIRST = {
    "dt": "2026-11-01", "provider": "aws", "region": "eu-west-1", "nodes": 3, "vcpu_hours": 40.0,
    "kwh": 4.0, "operational_kgco2e": 0.8, "embodied_kgco2e": 0.2, "kgco2e": 1.0,
    "sci_gco2e_per_vcpu_hour": 25.0,
}  # fmt: skip

# (dt, workload_id, kind, saving_gco2e) per day, biggest saving first.
RECOMMENDATIONS_D1 = [
    ("2026-11-01", "w2", "location_shift", 90.0),
    ("2026-11-01", "w1", "time_shift", 40.0),
    ("2026-11-01", "w2", "time_shift", 40.0),
    ("2026-11-01", "w3", "time_shift", 40.0),
]
RECOMMENDATIONS_LATEST = [
    ("2026-11-02", "w5", "time_shift", 25.0),
    ("2026-11-02", "w4", "location_shift", 10.0),
]


def load_statements(catalog: str, analytics: str, dialect: str) -> list[str]:
    """Statements (in ``dialect``) creating the tables and the view in ``catalog.analytics``."""
    from opslake.query import render, sql_dir, transpile

    statements = []
    for table, (columns, rows) in ddl(analytics).items():
        statements.append(transpile(f"CREATE TABLE {catalog}.{table} ({columns})", dialect))
        statements.append(
            transpile(f"INSERT INTO {catalog}.{table} VALUES {', '.join(rows)}", dialect)
        )
    for view in VIEWS:
        path = sql_dir() / "views" / view
        statements.append(transpile(render(path, catalog, analytics=analytics), dialect))
    return statements


# --- the answers, checked through any client of the app (Spark and Trino tests share them) -----


def pages(client: TestClient, path: str, size: int, key: str = "items") -> list[dict[str, Any]]:
    """Every item, following next_page_token; asserts each page but the last is full."""
    items: list[dict[str, Any]] = []
    url = f"{path}{'&' if '?' in path else '?'}page_size={size}"
    page_token = None
    for _ in range(1000):  # a bound, so a token that never ends fails the test
        answer = client.get(url + (f"&page_token={page_token}" if page_token else ""))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        page_token = body["next_page_token"]
        items += body[key]
        if page_token is None:
            assert len(body[key]) <= size
            return items
        assert len(body[key]) == size
    raise AssertionError("pagination did not end")


def check_latest_plan_per_pool(api: TestClient) -> None:
    answer = api.get("/api/v1/placement/plans")
    assert answer.status_code == 200
    assert answer.json() == {"items": PLANS, "next_page_token": None}
    assert api.get("/api/v1/placement/plans?pool=p2").json()["items"] == [PLANS[1]]
    assert api.get("/api/v1/placement/plans?pool=nope").json()["items"] == []
    # Values are literals, never SQL: an injection attempt is just a pool name no pool has.
    for attempt in ("p1' OR '1'='1", "p1\\' OR 1=1 --", "p1\\", "x' UNION SELECT 1 --"):
        answer = api.get("/api/v1/placement/plans", params={"pool": attempt})
        assert (answer.status_code, answer.json()["items"]) == (200, []), attempt
    events = api.get(
        "/api/v1/anomalies/events",
        params={"node_id": "n1' OR node_id <> '", "start": "2026-11-01", "end": "2026-11-03"},
    )
    assert (events.status_code, events.json()["items"]) == (200, [])
    for size in (1, 2):
        assert pages(api, "/api/v1/placement/plans", size) == PLANS


def check_one_pool_s_plan_with_assignments_paged(api: TestClient) -> None:
    answer = api.get("/api/v1/placement/pools/p1/plan")
    assert answer.status_code == 200
    assert answer.json() == {
        "plan": PLANS[0],
        "assignments": P1_ASSIGNMENTS,
        "next_page_token": None,
    }
    for size in (1, 3):
        got = pages(api, "/api/v1/placement/pools/p1/plan", size, key="assignments")
        assert got == P1_ASSIGNMENTS
    missing = api.get("/api/v1/placement/pools/p404/plan")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": "unknown pool",
        "detail": "no placement plan for pool 'p404'",
    }
    # A token of one pool is refused on another.
    first = api.get("/api/v1/placement/pools/p1/plan?page_size=1").json()["next_page_token"]
    other = api.get(f"/api/v1/placement/pools/p2/plan?page_token={first}")
    assert other.status_code == 400


def _event_keys(items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["metric"], e["start_ts"], e["end_ts"]) for e in items]


def check_anomaly_events_for_a_node_and_time_range(api: TestClient) -> None:
    everything = (
        "/api/v1/anomalies/events?node_id=n1&start=2026-11-01T00:00:00Z&end=2026-11-03T00:00:00Z"
    )
    body = api.get(everything).json()
    assert _event_keys(body["items"]) == N1_EVENTS_ALL  # not the event starting at the end
    assert body["items"][0] == N1_EVENT_FIRST
    for size in (1, 3):  # page 1 of size 1 ends inside a tie on start_ts
        assert _event_keys(pages(api, everything, size)) == N1_EVENTS_ALL
    # Overlap: ending at/after the start (00:10 < 00:15 is out), starting before the end (exclusive);
    # the offset +01:00 is the same instant as 00:15Z.
    window = "/api/v1/anomalies/events?node_id=n1&start=2026-11-01T01:15:00%2B01:00&end=2026-11-02T03:00:00Z"
    assert _event_keys(api.get(window).json()["items"]) == N1_EVENTS_ALL[1:3]
    other = api.get("/api/v1/anomalies/events?node_id=n2&start=2026-11-01&end=2026-11-02").json()
    assert [(e["node_id"], e["metric"], e["peak_score"]) for e in other["items"]] == [
        ("n2", "mem_util", 7.0)
    ]


def _carbon_keys(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c["dt"], c["provider"], c["region"], c["nodes"], c["kwh"], c["kgco2e"]) for c in items]


def check_carbon_by_provider_region_day(api: TestClient) -> None:
    body = api.get("/api/v1/carbon/daily").json()
    assert _carbon_keys(body["items"]) == CARBON_ALL
    assert body["items"][0] == CARBON_FIRST
    for size in (1, 2):
        assert _carbon_keys(pages(api, "/api/v1/carbon/daily", size)) == CARBON_ALL
    aws = api.get("/api/v1/carbon/daily?provider=aws").json()["items"]
    assert _carbon_keys(aws) == [CARBON_ALL[0], CARBON_ALL[2], CARBON_ALL[3]]
    day2_eu = api.get("/api/v1/carbon/daily?region=eu-west-1&start=2026-11-02&end=2026-11-02")
    assert _carbon_keys(day2_eu.json()["items"]) == [CARBON_ALL[2]]


def _rec_keys(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["dt"], r["workload_id"], r["kind"], r["saving_gco2e"]) for r in items]


def check_carbon_recommendations(api: TestClient) -> None:
    latest = api.get("/api/v1/carbon/recommendations").json()
    assert _rec_keys(latest["items"]) == RECOMMENDATIONS_LATEST
    day1 = "/api/v1/carbon/recommendations?dt=2026-11-01"
    assert _rec_keys(api.get(day1).json()["items"]) == RECOMMENDATIONS_D1
    for size in (1, 2, 3):  # ties on the saving, and on the workload with two kinds
        assert _rec_keys(pages(api, day1, size)) == RECOMMENDATIONS_D1
    shifts = api.get(day1 + "&kind=location_shift").json()["items"]
    assert _rec_keys(shifts) == RECOMMENDATIONS_D1[:1]
    assert shifts[0] == {
        "dt": "2026-11-01", "workload_id": "w2", "kind": "location_shift", "current": "eu-west-1",
        "suggested": "eu-north-1", "current_gco2e": 100.0, "suggested_gco2e": 10.0,
        "saving_gco2e": 90.0, "saving_pct": 90.0,
    }  # fmt: skip
