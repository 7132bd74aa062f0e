#!/bin/sh
# Barman's main loop (no cron daemon): write .pgpass from the environment (secret-env exported the secret file), create Barman's folders,
# then every CRON_INTERVAL seconds run `barman cron`, clear true duplicates from errors/, take the first
# base backup as soon as the cluster allows it, scheduled backups from BACKUP_SCHEDULE (UTC cron; a time
# missed while the container was down is caught up once), verification of each new backup, restore
# drills from RESTORE_DRILL_SCHEDULE, and Barman's state as Prometheus metrics (served on METRICS_PORT, default 9780).
set -u
umask 077
printf '*:*:*:barman:%s\n*:*:*:streaming_barman:%s\n' "$BARMAN_PASSWORD" "$STREAMING_BARMAN_PASSWORD" > "$HOME/.pgpass"
# Everything Barman runs reads .pgpass: no password stays in the environment of its processes.
unset BARMAN_PASSWORD STREAMING_BARMAN_PASSWORD
server="${BARMAN_SERVER:-cluster}"
interval="${CRON_INTERVAL:-15}"
say() { echo "barman-loop: $*" >&2; }
# barman.mode "rsync": sshd for archive_command pushes, and the key for rsync backups (no-op otherwise).
ssh-start
unset SSH_HOST_KEY_B64 SSH_CLIENT_KEY_B64
# The shared WAL volume's folders (streaming mode), group-writable for the nodes' archive_command, before
# `barman check` would create incoming/ with this umask.
if [ -d "${WAL_SHARE:?}" ] && [ -w "$WAL_SHARE" ]; then
    walshare-dirs || say "the WAL share's folders are incomplete"
fi
# `barman check` creates incoming/, streaming/ and friends: do it before anything needs them.
barman check "$server" >/dev/null 2>&1 || true
mkdir -p "$HOME/metrics"
barman-ha serve "$HOME/metrics" "${METRICS_PORT:?}" &
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
        # Patroni 4 keeps the permanent slot on every member, so after a failover the new leader's slot
        # can still point into the old timeline, where pg_receivewal cannot start and --reset would align
        # to. Recreate it at the current WAL (Patroni may recreate it first: "already exists" is fine).
        barman receive-wal --drop-slot "$server" >&2 || say "receive-wal --drop-slot failed"
        barman receive-wal --create-slot "$server" >&2 || true
        barman receive-wal --reset "$server" >&2 || say "receive-wal --reset failed"
        # --reset compares segment numbers only: a .partial of an older timeline in the segment where the
        # new one began counts as "aligned", and pg_receivewal asks for it again. It holds nothing of the
        # current timeline, so remove it; receive-wal then starts at the server's current WAL.
        current="$(barman show-servers "$server" 2>/dev/null | sed -n 's/^[[:space:]]*current_xlog: \([0-9A-F]\{8\}\).*/\1/p' | head -n 1)"
        for partial in "${BARMAN_BACKUPS:?}/$server/streaming/"*.partial; do
            if [ ! -e "$partial" ] || [ -z "$current" ]; then continue; fi
            tli="$(basename "$partial" | cut -c1-8)"
            if [ "$tli" != "$current" ]; then
                say "removing $(basename "$partial"): timeline $tli, the server is on $current"
                rm -f -- "$partial"
            fi
        done
        stuck=0
    fi
    barman-ha clean-errors "$server" || say "clean-errors failed"
    # A finished one: a backup left STARTED by a container that stopped mid-backup, or FAILED, is no reason
    # to wait for the schedule.
    if ! barman-ha has-backup "$server"; then
        say "no finished base backup yet: taking the first one"
        # Barman refuses a backup until some WAL has arrived: close the current segment rather than
        # wait up to archive_timeout for it.
        if barman check "$server" 2>/dev/null | grep -q "WAL archive: FAILED"; then
            barman-ha switch-wal "$server" >/dev/null || say "switch-wal failed"
            sleep 3
        fi
        # An immediate checkpoint: PITR is impossible until this backup exists (a spread one took minutes under load).
        if barman backup --immediate-checkpoint --wait --wait-timeout 120 "$server" >&2; then say "first base backup done"; else say "first base backup failed; retrying next round"; fi
    elif slot="$(barman-ha due "${BACKUP_SCHEDULE:-}" "$HOME/.last-scheduled-backup")"; then
        say "scheduled base backup for ${slot} (${BACKUP_SCHEDULE})"
        barman backup --wait --wait-timeout 120 "$server" >&2 || say "scheduled base backup for ${slot} failed"
    fi
    # Every new finished backup is verified once; the restore drill runs on its schedule, in the
    # background (a large backup takes a while to restore, and archiving must go on meanwhile).
    barman-ha verify-new "$server" >&2 || say "the newest backup failed verification"
    if slot="$(barman-ha due "${RESTORE_DRILL_SCHEDULE:-}" "$HOME/.last-restore-drill")"; then
        say "scheduled restore drill for ${slot} (${RESTORE_DRILL_SCHEDULE})"
        barman-ha drill "$server" >&2 &
    fi
    barman-ha metrics "$server" "$HOME/metrics/metrics" || say "writing metrics failed"
    sleep "$interval" &
    wait $!
done
