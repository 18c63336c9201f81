-- The biggest carbon savings on offer, by kind of shift.
SELECT kind, count(*) AS recommendations, sum(saving_gco2e) / 1000.0 AS saving_kgco2e,
       approx_percentile(saving_pct, 0.5) AS median_saving_pct
FROM {catalog}.{analytics}.v_recommendations
GROUP BY kind
ORDER BY saving_kgco2e DESC
