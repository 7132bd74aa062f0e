#!/bin/sh
# Forced command of Barman's backup key on the nodes (barman.mode "rsync"): it may run what `barman check`
# and `barman backup` run over SSH, and nothing else: `true` (Barman's SSH check) and an rsync server in
# the sender role (the base backup and its file lists), started directly, without a shell. No shell, no
# psql, no rsync receiving. (rrsync cannot be used: Barman runs rsync with --secluded-args, which rrsync
# refuses, and with which paths and most options travel inside rsync's protocol.) Refusals go to the
# container's log (PID 1's stderr).
set -f
# Barman's command line arrives with leading spaces; split it into words (no globbing, no shell).
# shellcheck disable=SC2086
set -- ${SSH_ORIGINAL_COMMAND:-}
refuse() {
    printf 'barman-backup-gate: refused: %s\n' "${SSH_ORIGINAL_COMMAND:-a login shell}" >> /proc/1/fd/2 2>/dev/null || true
    echo "barman-backup-gate: refused: only Barman's rsync backups and SSH check may use this key" >&2
    exit 1
}
[ "$*" = true ] && exit 0
if [ "$#" -lt 4 ] || [ "$1" != rsync ] || [ "$2" != --server ] || [ "$3" != --sender ]; then
    refuse
fi
for word in "$@"; do
    case "$word" in *[!A-Za-z0-9._/=,:+-]*) refuse ;; esac
done
shift
exec /usr/bin/rsync "$@"
