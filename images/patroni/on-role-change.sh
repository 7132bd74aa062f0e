#!/bin/sh
# Patroni callback: on_start and on_role_change <action> <role> <scope>. When this node leads: set the
# stack's roles' passwords from this container's environment, and hand every complete segment of an
# older timeline that has no archive status to the archiver. When a leader dies right after a segment
# switch, the new leader received that segment whole but its walreceiver never closed it, so nothing
# marks it for archiving (PostgreSQL would only notice when it recycles the file): it would be a gap.
set -u
role="${2:-}"
case "$role" in master|primary) ;; *) exit 0 ;; esac
wal=${PG_HOME:?}/${PG_VERSION:?}/data/pg_wal
# The new timeline, once PostgreSQL has left recovery (the callback may run while it still promotes).
current=""
for _ in $(seq 1 60); do
    current=$(psql -h /var/run/postgresql -p "${PG_PORT:?}" -U postgres -d postgres -XAtc \
        "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)" 2>/dev/null) && [ -n "$current" ] && break
    sleep 1
done
[ -n "$current" ] || { echo "on-role-change: could not read the current timeline" >&2; exit 0; }
# This node leads: the stack's roles take the passwords this container was given (see patroni-sync-passwords).
patroni-sync-passwords || echo "on-role-change: could not set the roles' passwords" >&2
# Only segments before the point where their timeline ended (from the new timeline's history file):
# a file of an old timeline at or past it is a leftover (recycled or never written), not WAL.
history="$wal/$current.history"
[ -f "$history" ] || exit 0
for path in "$wal"/[0-9A-F]*; do
    f=${path##*/}
    # Segment files only: 24 hex digits (not .history, .partial or .backup files).
    case "$f" in *[!0-9A-F]*) continue ;; esac
    [ "${#f}" -eq 24 ] || continue
    tli=$((0x$(echo "$f" | cut -c1-8)))
    [ "$tli" -lt $((0x$current)) ] || continue
    lsn=$(awk -v t="$tli" '$1 == t { print $2 }' "$history")
    [ -n "$lsn" ] || continue
    seg=$(( (0x$(echo "$f" | cut -c9-16) << 8) + 0x$(echo "$f" | cut -c17-24) ))
    [ "$seg" -lt $(( (0x${lsn%/*} << 8) + (0x${lsn#*/} >> 24) )) ] || continue
    if [ ! -e "$wal/archive_status/$f.ready" ] && [ ! -e "$wal/archive_status/$f.done" ]; then
        echo "on-role-change: $f (timeline $tli, before its end at $lsn) had no archive status: marking it ready" >&2
        : > "$wal/archive_status/$f.ready"
    fi
done
