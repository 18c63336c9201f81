-- Carbon-aware recommendations (time and location shifts), biggest saving first within each day.
CREATE OR REPLACE VIEW {catalog}.{analytics}.v_recommendations AS
SELECT dt, workload_id, kind, current, suggested, current_gco2e, suggested_gco2e, saving_gco2e,
       saving_pct,
       row_number() OVER (PARTITION BY dt ORDER BY saving_gco2e DESC, workload_id) AS rank_in_day
FROM {catalog}.{analytics}.carbon_recommendations
