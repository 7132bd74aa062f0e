#!/bin/sh
# Run once by Patroni on the first leader after initdb ($1 = connection URL as the superuser).
# Creates the application role and database and Barman's roles; passwords come from the environment.
set -eu
psql "$1" -X -q -v ON_ERROR_STOP=1 \
    -v app_user="$APP_USER" -v app_db="$APP_DATABASE" -v app_password="$APP_PASSWORD" \
    -v barman_password="$BARMAN_PASSWORD" -v streaming_password="$STREAMING_BARMAN_PASSWORD" \
    -v monitor_password="$MONITOR_PASSWORD" <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"app_db" OWNER :"app_user";
-- Barman: base backups without superuser (PostgreSQL 15 privileges), WAL streaming by a replication role.
CREATE ROLE barman LOGIN PASSWORD :'barman_password';
GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean) TO barman;
GRANT EXECUTE ON FUNCTION pg_backup_stop(boolean) TO barman;
GRANT EXECUTE ON FUNCTION pg_switch_wal() TO barman;
GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO barman;
GRANT pg_read_all_settings, pg_read_all_stats, pg_checkpoint TO barman;
CREATE ROLE streaming_barman LOGIN REPLICATION PASSWORD :'streaming_password';
-- The metrics exporter: read-only monitoring views only.
CREATE ROLE monitor LOGIN PASSWORD :'monitor_password' IN ROLE pg_monitor;
SQL
