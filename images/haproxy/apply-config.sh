#!/bin/sh
# haproxy-apply-config < haproxy.cfg: the stack's way to change HAProxy's configuration without a new container.
# The new file is checked with `haproxy -c` (a bad one changes nothing and fails), put in place, and, when
# HAProxy already runs, reloaded: every server's state is saved first (the new worker starts from it, so no
# replica is ever UP in the write pool), then the master gets SIGUSR2. The old worker keeps the connections
# it holds until they end; new ones go to the new worker. Exits once the new worker answers.
set -eu
cfg=${HAPROXY_CONFIG:?}
state=${HAPROXY_SERVER_STATE:?}
socket=${HAPROXY_ADMIN_SOCKET:?}
umask 022
new="$cfg.new.$$"
trap 'rm -f "$new" "$state.new.$$"' EXIT
cat > "$new"
haproxy -c -q -f "$new"
running=0
if [ -s "$cfg" ] && [ -s "${HAPROXY_PID:?}" ] && kill -0 "$(cat "$HAPROXY_PID")" 2>/dev/null; then
    running=1
fi
if [ "$running" = 1 ] && cmp -s "$new" "$cfg"; then
    exit 0
fi
mv -f "$new" "$cfg"
[ "$running" = 1 ] || exit 0
worker() { echo "show info" | socat -t 2 stdio "UNIX-CONNECT:$socket" 2>/dev/null | sed -n 's/^Pid: //p'; }
before=$(worker)
echo "show servers state" | socat -t 2 stdio "UNIX-CONNECT:$socket" > "$state.new.$$"
mv -f "$state.new.$$" "$state"
kill -USR2 "$(cat "$HAPROXY_PID")"
for _ in $(seq 1 100); do
    now=$(worker)
    if [ -n "$now" ] && [ "$now" != "$before" ]; then
        echo "haproxy-apply-config: reloaded (worker $before -> $now)"
        exit 0
    fi
    sleep 0.1
done
echo "haproxy-apply-config: HAProxy did not reload within 10 s" >&2
exit 1
