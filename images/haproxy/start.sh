#!/bin/sh
# haproxy-start CONFIG: HAProxy's stats page serves TLS from one file holding its certificate and key (its
# `crt`): written here, 0600, on the tmpfs tls-key wrote the key to, at every start. CONFIG is written by the
# stack into the running container (haproxy-apply-config): a new container waits for it. Then HAProxy itself,
# master and worker; the master re-reads CONFIG on SIGUSR2 (a seamless reload).
set -eu
umask 077
cat "${TLS_ETC:?}/cert.pem" "${TLS_RUN:?}/key.pem" > "$TLS_RUN/stats.pem"
waited=0
while [ ! -s "$1" ]; do
    if [ $((waited % 50)) -eq 0 ]; then
        echo "haproxy-start: waiting for $1 (pulumi up writes it)" >&2
    fi
    sleep 0.2
    waited=$((waited + 1))
done
exec haproxy -W -db -p "${HAPROXY_PID:?}" -f "$1"
