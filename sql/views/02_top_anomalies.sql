-- Flagged samples, most anomalous first within each day (score: higher = more anomalous).
CREATE OR REPLACE VIEW {catalog}.{analytics}.v_top_anomalies AS
SELECT dt, ts, node_id, provider, region, score, top_metric, model_version,
       rank() OVER (PARTITION BY dt ORDER BY score DESC) AS rank_in_day
FROM {catalog}.{analytics}.anomalies
WHERE is_anomaly
