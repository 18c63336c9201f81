-- Decision API: energy and emissions per provider, region and day (the v_carbon_by_provider_region_day
-- view), optionally for one provider and/or region and the days [:start_date, :end_date].
-- Parameters: :provider, :region, :start_date, :end_date (each NULL = no filter), keyset :after_dt,
-- :after_provider, :after_region, :limit.
SELECT dt, provider, region, nodes, vcpu_hours, kwh, operational_kgco2e, embodied_kgco2e, kgco2e,
       sci_gco2e_per_vcpu_hour
FROM {catalog}.{analytics}.v_carbon_by_provider_region_day
WHERE (:provider IS NULL OR provider = :provider)
  AND (:region IS NULL OR region = :region)
  AND (:start_date IS NULL OR dt >= CAST(:start_date AS DATE))
  AND (:end_date IS NULL OR dt <= CAST(:end_date AS DATE))
  AND (:after_dt IS NULL
       OR dt > CAST(:after_dt AS DATE)
       OR (dt = CAST(:after_dt AS DATE)
           AND (provider > :after_provider
                OR (provider = :after_provider AND region > :after_region))))
ORDER BY dt, provider, region
LIMIT :limit
