-- The ten nodes with the most anomalous samples over the whole history.
SELECT node_id, provider, region, sum(anomalies) AS anomalies, max(max_anomaly_score) AS max_score
FROM {catalog}.{analytics}.v_node_health
GROUP BY node_id, provider, region
ORDER BY anomalies DESC, node_id
LIMIT 10
