-- Daily health per node: utilisation levels and how many 5-minute samples were flagged anomalous.
CREATE OR REPLACE VIEW {catalog}.{analytics}.v_node_health AS
WITH flagged AS (
    SELECT dt, node_id, count_if(is_anomaly) AS anomalies, max(score) AS max_score
    FROM {catalog}.{analytics}.anomalies
    GROUP BY dt, node_id
)
SELECT m.dt, m.node_id, m.provider, m.region,
       count(*) AS samples,
       avg(m.cpu_util) AS avg_cpu_util,
       max(m.cpu_util) AS max_cpu_util,
       avg(m.mem_util) AS avg_mem_util,
       max(m.mem_util) AS max_mem_util,
       coalesce(max(f.anomalies), 0) AS anomalies,
       max(f.max_score) AS max_anomaly_score
FROM {catalog}.{telemetry}.node_metrics AS m
LEFT JOIN flagged AS f ON f.dt = m.dt AND f.node_id = m.node_id
GROUP BY m.dt, m.node_id, m.provider, m.region
