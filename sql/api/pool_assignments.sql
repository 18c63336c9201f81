-- Decision API: the workloads one pool's plan of day :dt places (and those it could not), by workload.
-- Parameters: :pool, :dt, keyset :after_workload, :limit.
SELECT workload_id, node_index, placed, reason, score, algorithm
FROM {catalog}.{analytics}.placements
WHERE pool_id = :pool
  AND dt = CAST(:dt AS DATE)
  AND (:after_workload IS NULL OR workload_id > :after_workload)
ORDER BY workload_id
LIMIT :limit
