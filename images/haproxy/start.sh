#!/bin/sh
# haproxy-start CONFIG: HAProxy's stats page serves TLS from one file holding its certificate and key (its
# `crt`): written here, 0600, on the tmpfs tls-key wrote the key to, at every start. Then HAProxy itself.
set -eu
umask 077
cat "${TLS_ETC:?}/cert.pem" "${TLS_RUN:?}/key.pem" > "$TLS_RUN/stats.pem"
exec haproxy -W -db -f "$1"
