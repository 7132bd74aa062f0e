#!/bin/sh
# Barman's PID 1 child: write .pgpass from the environment, create Barman's folders, then run
# `barman cron` every minute (no cron daemon needed).
set -eu
umask 077
printf '*:*:*:barman:%s\n*:*:*:streaming_barman:%s\n' "$BARMAN_PASSWORD" "$STREAMING_BARMAN_PASSWORD" > "$HOME/.pgpass"
server="${BARMAN_SERVER:-cluster}"
# `barman check` creates incoming/, streaming/ and friends; run it before anything else needs them.
barman check "$server" >/dev/null 2>&1 || true
while :; do
    barman -q cron || echo "barman cron failed (exit $?)" >&2
    sleep 60 &
    wait $!
done
