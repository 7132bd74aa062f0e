#!/bin/sh
# Start the SSH side when barman.mode is "rsync" (nothing otherwise), then become Patroni.
set -eu
ssh-start
# Patroni takes the PATRONI_* variables out of its environment, so its callbacks never see them:
# patroni-sync-passwords reads the three it needs from this file, readable by this user only (printf is
# a shell builtin: no password in an argv).
ROLE_PASSWORDS_FILE=/tmp/role-passwords
export ROLE_PASSWORDS_FILE
(
    umask 077
    printf 'superuser=%s\nreplication=%s\nrewind=%s\n' "${PATRONI_SUPERUSER_PASSWORD:-}" "${PATRONI_REPLICATION_PASSWORD:-}" \
        "${PATRONI_REWIND_PASSWORD:-}" > "$ROLE_PASSWORDS_FILE"
)
exec patroni "$@"
