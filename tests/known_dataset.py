"""A small hand-made dataset with known answers for the sql/ views and canned queries.

Both engines are held to the same numbers: Spark (tests/integration/test_queries.py, DDL transpiled)
and Trino (tests/stack/test_views.py).
"""

from __future__ import annotations


def tables(
    telemetry: str = "telemetry", analytics: str = "analytics"
) -> dict[str, tuple[str, list[str]]]:
    """Trino DDL columns and VALUES rows per table, in the given namespaces."""
    return {
        f"{telemetry}.node_metrics": (
            "dt date, node_id varchar, provider varchar, region varchar, cpu_util double, mem_util double",
            [
                "(DATE '2026-11-01', 'n1', 'aws', 'eu-west-1', 0.2, 0.5)",
                "(DATE '2026-11-01', 'n1', 'aws', 'eu-west-1', 0.4, 0.7)",
                "(DATE '2026-11-01', 'n2', 'gcp', 'europe-west4', 0.9, 0.1)",
                "(DATE '2026-11-02', 'n1', 'aws', 'eu-west-1', 0.6, 0.6)",
            ],
        ),
        f"{analytics}.anomalies": (
            "dt date, ts timestamp(6), node_id varchar, provider varchar, region varchar, score double, "
            "is_anomaly boolean, top_metric varchar, model_version varchar",
            [
                "(DATE '2026-11-01', TIMESTAMP '2026-11-01 00:00', 'n1', 'aws', 'eu-west-1', 0.80, true, 'cpu_util', 'v1')",
                "(DATE '2026-11-01', TIMESTAMP '2026-11-01 00:05', 'n1', 'aws', 'eu-west-1', 0.40, false, 'mem_util', 'v1')",
                "(DATE '2026-11-01', TIMESTAMP '2026-11-01 00:00', 'n2', 'gcp', 'europe-west4', 0.95, true, 'mem_util', 'v1')",
            ],
        ),
        f"{analytics}.anomaly_events": (
            "dt date, node_id varchar, provider varchar, region varchar, metric varchar, "
            "start_ts timestamp(6), end_ts timestamp(6), peak_ts timestamp(6), peak_score double, "
            "rows bigint, reason varchar, detector_version varchar",
            [
                "(DATE '2026-11-01', 'n1', 'aws', 'eu-west-1', 'cpu_util', TIMESTAMP '2026-11-01 00:00', TIMESTAMP '2026-11-01 00:10', TIMESTAMP '2026-11-01 00:05', 3.5, 2, 'value', 'v1')",
                "(DATE '2026-11-01', 'n2', 'gcp', 'europe-west4', 'mem_util', TIMESTAMP '2026-11-01 01:00', TIMESTAMP '2026-11-01 01:00', TIMESTAMP '2026-11-01 01:00', 7.0, 1, 'diff', 'v1')",
                "(DATE '2026-11-02', 'n1', 'aws', 'eu-west-1', 'mem_util', TIMESTAMP '2026-11-02 03:00', TIMESTAMP '2026-11-02 04:00', TIMESTAMP '2026-11-02 03:30', 2.0, 9, 'season', 'v1')",
            ],
        ),
        f"{analytics}.carbon_daily": (
            "dt date, provider varchar, region varchar, nodes bigint, vcpu_hours double, total_kwh double, "
            "operational_gco2e double, embodied_gco2e double, total_gco2e double",
            [
                "(DATE '2026-11-01', 'aws', 'eu-west-1', 2, 10.0, 1.5, 300.0, 100.0, 400.0)",
                "(DATE '2026-11-01', 'aws', 'eu-west-1', 1, 30.0, 2.5, 500.0, 100.0, 600.0)",
                "(DATE '2026-11-01', 'gcp', 'europe-west4', 1, 0.0, 0.0, 0.0, 0.0, 0.0)",
            ],
        ),
        f"{analytics}.placement_runs": (
            "dt date, pool_id varchar, algorithm varchar, nodes_used integer, lower_bound integer, gap double, "
            "cpu_utilisation double, mem_utilisation double, cost_per_hour double, workloads integer",
            [
                "(DATE '2026-11-01', 'p1', 'annealing', 12, 10, 0.2, 0.8, 0.7, 5.0, 30)",
                "(DATE '2026-11-01', 'p2', 'annealing', 4, 4, 0.0, 0.9, 0.9, 2.0, 30)",
            ],
        ),
        f"{analytics}.carbon_recommendations": (
            "dt date, workload_id varchar, kind varchar, current varchar, suggested varchar, "
            "current_gco2e double, suggested_gco2e double, saving_gco2e double, saving_pct double",
            [
                "(DATE '2026-11-01', 'w1', 'time_shift', '02:00', '13:00', 100.0, 60.0, 40.0, 40.0)",
                "(DATE '2026-11-01', 'w2', 'location_shift', 'eu-west-1', 'eu-north-1', 100.0, 10.0, 90.0, 90.0)",
                "(DATE '2026-11-01', 'w3', 'time_shift', '02:00', '04:00', 100.0, 60.0, 40.0, 40.0)",
            ],
        ),
    }


# Every canned query's answer on the dataset above, in the query's own order.
CANNED = {
    "best_carbon_savings": [("location_shift", 1, 0.09, 90.0), ("time_shift", 2, 0.08, 40.0)],
    "carbon_by_provider": [("aws", 4.0, 1.0), ("gcp", 0.0, 0.0)],
    "least_efficient_pools": [("p1", 12, 10, 2), ("p2", 4, 4, 0)],
    "noisiest_nodes": [("n1", "aws", "eu-west-1", 1, 0.8), ("n2", "gcp", "europe-west4", 1, 0.95)],
}
