-- Nodes used per pool and day against the best lower bound (L1/L2): the gap is the price of the heuristic.
CREATE OR REPLACE VIEW {catalog}.{analytics}.v_placement_efficiency AS
SELECT dt, pool_id, algorithm, nodes_used, lower_bound,
       nodes_used - lower_bound AS excess_nodes,
       CAST(nodes_used - lower_bound AS DOUBLE) / nullif(lower_bound, 0) AS gap_to_bound,
       cpu_utilisation, mem_utilisation, cost_per_hour, workloads
FROM {catalog}.{analytics}.placement_runs
