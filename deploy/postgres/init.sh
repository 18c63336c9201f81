#!/usr/bin/env bash
# Creates the opslake role and its databases (Iceberg catalog, Marquez, Airflow). Idempotent.
# docker-compose runs it from /docker-entrypoint-initdb.d; the native stack runs it after initdb.
# Needs POSTGRES_USER / POSTGRES_PASSWORD (the application role) and a superuser connection
# (PGUSER, PGHOST, PGPORT; docker-compose sets PGUSER to the application role, a superuser there).
set -euo pipefail
# The password is read from the environment by psql itself (\getenv, psql 15+): a `-v` option would put it
# on psql's command line, which every user of the machine can read with `ps`.
psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname postgres -v app_user="$POSTGRES_USER" <<'SQL'
\getenv app_password POSTGRES_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'app_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'app_user', :'app_password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', db, :'app_user')
  FROM unnest(ARRAY['iceberg_catalog', 'marquez', 'airflow']) AS db
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = db) \gexec
SQL

# The Iceberg JDBC catalog tables, schema version V1 (with iceberg_type, so views work). Spark creates
# them on first use, but Trino only reads them: creating them here lets either engine start first.
psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname iceberg_catalog -v app_user="$POSTGRES_USER" <<'SQL'
SET ROLE :"app_user";
CREATE TABLE IF NOT EXISTS iceberg_tables (
    catalog_name VARCHAR(255) NOT NULL,
    table_namespace VARCHAR(255) NOT NULL,
    table_name VARCHAR(255) NOT NULL,
    metadata_location VARCHAR(1000),
    previous_metadata_location VARCHAR(1000),
    iceberg_type VARCHAR(5),
    PRIMARY KEY (catalog_name, table_namespace, table_name)
);
CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
    catalog_name VARCHAR(255) NOT NULL,
    namespace VARCHAR(255) NOT NULL,
    property_key VARCHAR(255),
    property_value VARCHAR(1000),
    PRIMARY KEY (catalog_name, namespace, property_key)
);
SQL
