-- Energy and emissions per provider, region and day (grams in the tables, kilograms here).
CREATE OR REPLACE VIEW {catalog}.{analytics}.v_carbon_by_provider_region_day AS
SELECT dt, provider, region,
       sum(nodes) AS nodes,
       sum(vcpu_hours) AS vcpu_hours,
       sum(total_kwh) AS kwh,
       sum(operational_gco2e) / 1000.0 AS operational_kgco2e,
       sum(embodied_gco2e) / 1000.0 AS embodied_kgco2e,
       sum(total_gco2e) / 1000.0 AS kgco2e,
       sum(total_gco2e) / nullif(sum(vcpu_hours), 0) AS sci_gco2e_per_vcpu_hour
FROM {catalog}.{analytics}.carbon_daily
GROUP BY dt, provider, region
