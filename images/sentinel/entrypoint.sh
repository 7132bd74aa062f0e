#!/bin/bash
# The filter in front of the engine's socket (as `dockerfilter`, in the group that owns the socket, which
# differs from host to host), then the sentinel as its own user; neither keeps a capability. If either
# ends, the container ends and the engine starts it again.
set -euo pipefail
DOCKER_GID="$(stat -c %g "$DOCKER_SOCKET")"
export DOCKER_GID
env -u TLS_KEY_B64 haproxy -db -f /etc/haproxy/docker-filter.cfg &
filter=$!
setpriv --reuid=sentinel --regid=sentinel --init-groups --inh-caps=-all \
    python3 /usr/local/bin/patroni-sentinel &
sentinel=$!
stopping=""
trap 'stopping=1; kill -TERM "$filter" "$sentinel" 2>/dev/null || true' TERM INT
wait -n "$filter" "$sentinel" || true
kill -TERM "$filter" "$sentinel" 2>/dev/null || true
wait || true
if [ -z "$stopping" ]; then
    echo "sentinel-entrypoint: the Docker filter or the sentinel ended; exiting so that the engine starts both again" >&2
    exit 1
fi
