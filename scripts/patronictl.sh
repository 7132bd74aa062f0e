#!/usr/bin/env bash
# `npm run patronictl -- <args>`: Patroni's own CLI (list, history, pause, resume, edit-config, ...) inside
# a running node of the stack (STACK, default dev, as for `npm run up`). The node's environment carries
# its config file and REST API credentials, so every patronictl command works as documented upstream.
#   npm run patronictl -- list
#   STACK=prod npm run patronictl -- pause --wait
set -euo pipefail
stack="${STACK:-dev}"
node="$(docker ps --filter "label=patroni-ha.stack=$stack" --filter "label=patroni-ha.role=patroni" --filter status=running \
    --format '{{.Names}}' | sort | head -n 1)"
if [ -z "$node" ]; then
    echo "no running Patroni node of stack \"$stack\" (STACK=<name> npm run patronictl -- ... picks another)" >&2
    exit 1
fi
# A terminal for interactive commands (edit-config, switchover without --force) when there is one.
if [ -t 0 ] && [ -t 1 ]; then tty=(-it); else tty=(-i); fi
exec docker exec "${tty[@]}" "$node" patronictl "$@"
