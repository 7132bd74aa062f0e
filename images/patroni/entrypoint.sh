#!/bin/sh
# Start the SSH side when barman.mode is "rsync" (nothing otherwise), then become Patroni.
set -eu
ssh-start
exec patroni "$@"
