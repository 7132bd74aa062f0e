#!/bin/sh
# tls-key COMMAND...: write this container's TLS private key, which the stack passes as TLS_KEY_B64 (base64
# PEM), to $TLS_RUN/key.pem, 0600, on a tmpfs (so it never reaches a disk; written again at every start),
# then run COMMAND without the variable. printf is a builtin: the key is in no argv.
set -eu
umask 077
printf '%s' "${TLS_KEY_B64:?tls-key: TLS_KEY_B64 is not set}" | base64 -d > "${TLS_RUN:?}/key.pem"
unset TLS_KEY_B64
exec "$@"
