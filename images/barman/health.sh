#!/bin/sh
# Container health: `barman check` for the server, and no WAL gap since the newest base backup.
exec barman-ha check "${1:-cluster}"
