-- Energy and emissions per provider over the whole history.
SELECT provider, sum(kwh) AS kwh, sum(kgco2e) AS kgco2e
FROM {catalog}.{analytics}.v_carbon_by_provider_region_day
GROUP BY provider
ORDER BY kgco2e DESC
