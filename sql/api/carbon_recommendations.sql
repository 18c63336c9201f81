-- Decision API: the carbon recommendations of day :dt (NULL = the latest day with any), biggest saving
-- first, optionally of one kind. Parameters: :dt, :kind, keyset :after_saving, :after_workload,
-- :after_kind, :limit.
WITH chosen_day AS (
    SELECT coalesce(CAST(:dt AS DATE), max(dt)) AS dt
    FROM {catalog}.{analytics}.carbon_recommendations
)
SELECT r.dt, r.workload_id, r.kind, r.current, r.suggested, r.current_gco2e, r.suggested_gco2e,
       r.saving_gco2e, r.saving_pct
FROM {catalog}.{analytics}.carbon_recommendations AS r
JOIN chosen_day AS d ON r.dt = d.dt
WHERE r.saving_gco2e IS NOT NULL  -- the keyset below orders by it
  AND (:kind IS NULL OR r.kind = :kind)
  AND (:after_saving IS NULL
       OR r.saving_gco2e < CAST(:after_saving AS DOUBLE)
       OR (r.saving_gco2e = CAST(:after_saving AS DOUBLE)
           AND (r.workload_id > :after_workload
                OR (r.workload_id = :after_workload AND r.kind > :after_kind))))
ORDER BY r.saving_gco2e DESC, r.workload_id, r.kind
LIMIT :limit
