-- Decision API: one node's alert events overlapping the time range [:start_ts, :end_ts), oldest first.
-- dt is an event's start date, so :end_date (the date of :end_ts) bounds the partitions read.
-- Parameters: :node_id, :start_ts, :end_ts, :end_date, keyset :after_start and :after_metric, :limit.
SELECT dt, node_id, provider, region, metric, start_ts, end_ts, peak_ts, peak_score, rows, reason,
       detector_version
FROM {catalog}.{analytics}.anomaly_events
WHERE node_id = :node_id
  AND dt <= CAST(:end_date AS DATE)
  AND start_ts < CAST(:end_ts AS TIMESTAMP(6) WITH TIME ZONE)
  AND end_ts >= CAST(:start_ts AS TIMESTAMP(6) WITH TIME ZONE)
  AND (:after_start IS NULL
       OR start_ts > CAST(:after_start AS TIMESTAMP(6) WITH TIME ZONE)
       OR (start_ts = CAST(:after_start AS TIMESTAMP(6) WITH TIME ZONE) AND metric > :after_metric))
ORDER BY start_ts, metric
LIMIT :limit
