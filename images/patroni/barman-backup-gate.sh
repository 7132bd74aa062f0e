#!/bin/sh
# Forced command of Barman's backup key on the nodes (barman.mode "rsync"): it may run what `barman check`
# and `barman backup` run over SSH, and nothing else: `true` (Barman's SSH check) and rsync as a
# read-only sender (rrsync -ro: the base backup and the file lists). No shell, no psql, no writes.
# Every command is logged to the container's log (PID 1's stderr) as well.
cmd="${SSH_ORIGINAL_COMMAND:-}"
note() { printf 'barman-backup-gate: %s\n' "$1" >> /proc/1/fd/2 2>/dev/null || true; }
case "$cmd" in
    true)
        exit 0 ;;
    "rsync --server --sender "*)
        exec /usr/bin/rrsync -ro / ;;
esac
note "refused: ${cmd:-a login shell}"
echo "barman-backup-gate: refused: only Barman's rsync backups and SSH check may use this key" >&2
exit 1
