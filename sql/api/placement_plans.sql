-- Decision API: the latest placement plan of each pool (its most recent run), one row per pool.
-- Parameters (bound as literals by opslake.gateway.api): :pool (NULL = every pool), keyset :after_pool,
-- :limit.
WITH latest AS (
    SELECT pool_id, max(dt) AS dt
    FROM {catalog}.{analytics}.placement_runs
    WHERE (:pool IS NULL OR pool_id = :pool)
    GROUP BY pool_id
)
SELECT r.pool_id, r.dt, r.algorithm, r.workloads, r.nodes_used, r.lower_bound, r.gap,
       r.cpu_utilisation, r.mem_utilisation, r.cost_per_hour, r.grid_gco2_per_kwh
FROM {catalog}.{analytics}.placement_runs AS r
JOIN latest AS l ON r.pool_id = l.pool_id AND r.dt = l.dt
WHERE (:after_pool IS NULL OR r.pool_id > :after_pool)
ORDER BY r.pool_id
LIMIT :limit
