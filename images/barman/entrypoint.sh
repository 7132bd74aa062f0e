#!/bin/sh
# Barman's main loop (no cron daemon): write .pgpass from the environment, create Barman's folders,
# then every CRON_INTERVAL seconds run `barman cron`, clear true duplicates from errors/, take the first
# base backup as soon as the cluster allows it, scheduled backups from BACKUP_SCHEDULE (UTC cron), and
# Barman's state as Prometheus metrics (served on METRICS_PORT, default 9780).
set -u
umask 077
printf '*:*:*:barman:%s\n*:*:*:streaming_barman:%s\n' "$BARMAN_PASSWORD" "$STREAMING_BARMAN_PASSWORD" > "$HOME/.pgpass"
server="${BARMAN_SERVER:-cluster}"
interval="${CRON_INTERVAL:-15}"
say() { echo "barman-loop: $*" >&2; }
# barman.mode "rsync": sshd for archive_command pushes, and the key for rsync backups (no-op otherwise).
ssh-start
# `barman check` creates incoming/, streaming/ and friends: do it before anything needs them.
barman check "$server" >/dev/null 2>&1 || true
mkdir -p "$HOME/metrics"
barman-ha serve "$HOME/metrics" "${METRICS_PORT:-9780}" &
stuck=0
while :; do
    barman -q cron || say "barman cron failed"
    # Streaming mode: pg_receivewal can fail for good after a failover (PostgreSQL 15's cannot start
    # exactly at a timeline switch point). After a minute of that, restart it from the server's current
    # WAL; archive_command has every segment before it, and gap detection would say otherwise.
    if grep -q 'check="receive-wal running"} 0' "$HOME/metrics/metrics" 2>/dev/null; then stuck=$((stuck + 1)); else stuck=0; fi
    if [ "$stuck" -ge 4 ]; then
        say "receive-wal has failed for $stuck rounds: resetting it to the server's current WAL"
        barman receive-wal --stop "$server" >&2
        sleep 2
        barman receive-wal --reset "$server" >&2 || say "receive-wal --reset failed"
        stuck=0
    fi
    barman-ha clean-errors "$server" || say "clean-errors failed"
    if ! barman list-backups --minimal "$server" 2>/dev/null | grep -q .; then
        say "no base backup yet: taking the first one"
        # Barman refuses a backup until some WAL has arrived: close the current segment rather than
        # wait up to archive_timeout for it.
        if barman check "$server" 2>/dev/null | grep -q "WAL archive: FAILED"; then
            barman-ha switch-wal "$server" >/dev/null || say "switch-wal failed"
            sleep 3
        fi
        barman backup --wait --wait-timeout 120 "$server" >&2 && say "first base backup done" || say "first base backup failed; retrying next round"
    elif barman-ha due "${BACKUP_SCHEDULE:-}" "$HOME/.last-scheduled-backup"; then
        say "scheduled base backup (${BACKUP_SCHEDULE})"
        barman backup --wait --wait-timeout 120 "$server" >&2 || say "scheduled base backup failed"
    fi
    barman-ha metrics "$server" "$HOME/metrics/metrics" || say "writing metrics failed"
    sleep "$interval" &
    wait $!
done
