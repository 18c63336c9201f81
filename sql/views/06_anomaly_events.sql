-- Alert events (a node metric's consecutive exceedances merged into one), strongest first within each day.
CREATE OR REPLACE VIEW {catalog}.{analytics}.v_anomaly_events AS
SELECT dt, node_id, provider, region, metric, start_ts, end_ts, rows, peak_score, reason,
       rank() OVER (PARTITION BY dt ORDER BY peak_score DESC) AS rank_in_day
FROM {catalog}.{analytics}.anomaly_events
