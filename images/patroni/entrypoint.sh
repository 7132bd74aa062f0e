#!/bin/sh
# Keep the role passwords in a private file, start the SSH side when barman.mode is "rsync" (nothing
# otherwise), then become Patroni.
set -eu
# Every role password the scripts need (post-bootstrap, patroni-sync-passwords) goes to one file on /tmp,
# a tmpfs (never on a volume or the image layer), readable by this user only; printf is a shell builtin,
# so no password appears in an argv. Patroni takes the PATRONI_* variables out of its own environment;
# the others are removed here, so PostgreSQL, archive_command and the callbacks run without any secret in
# their environment.
ROLE_PASSWORDS_FILE=${ROLE_PASSWORDS_FILE:-/tmp/role-passwords}
export ROLE_PASSWORDS_FILE
(
    umask 077
    printf 'superuser=%s\nreplication=%s\nrewind=%s\napp=%s\nbarman=%s\nstreaming_barman=%s\nmonitor=%s\n' \
        "${PATRONI_SUPERUSER_PASSWORD:-}" "${PATRONI_REPLICATION_PASSWORD:-}" "${PATRONI_REWIND_PASSWORD:-}" \
        "${APP_PASSWORD:-}" "${BARMAN_PASSWORD:-}" "${STREAMING_BARMAN_PASSWORD:-}" "${MONITOR_PASSWORD:-}" \
        > "$ROLE_PASSWORDS_FILE"
)
unset APP_PASSWORD BARMAN_PASSWORD STREAMING_BARMAN_PASSWORD MONITOR_PASSWORD
# sshd (rsync mode) starts without those; its two keys leave the environment once written to files.
PATRONI_SUPERUSER_PASSWORD='' PATRONI_REPLICATION_PASSWORD='' PATRONI_REWIND_PASSWORD='' PATRONI_RESTAPI_PASSWORD='' ssh-start
unset SSH_HOST_KEY_B64 SSH_CLIENT_KEY_B64
exec patroni "$@"
