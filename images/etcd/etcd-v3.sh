#!/bin/sh
# etcd-v3 PATH: POST the JSON on stdin to this member's v3 JSON gateway (e.g. `kv/range`) over TLS with the
# member's own client certificate, and print the answer. The stack's program and the operator's tools reach
# etcd this way (`docker exec -i <stack>-etcd1 etcd-v3 kv/range`) instead of through a published port.
set -eu
exec curl -fsS --max-time 5 --cacert "$ETCDCTL_CACERT" --cert "$ETCDCTL_CERT" --key "$ETCDCTL_KEY" \
    -H 'Content-Type: application/json' --data-binary @- "https://127.0.0.1:${ETCD_CLIENT_PORT:?}/v3/${1:?usage: etcd-v3 PATH}"
