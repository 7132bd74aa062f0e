#!/bin/sh
# barman.mode "rsync": archive_command = 'archive-wal-rsync %p %f'. Pushes a WAL file into Barman's
# incoming/ over SSH (host alias "barman" in /etc/ssh-ha/ssh_config; Barman's side only lets this key
# write there, via rrsync). rsync writes a temporary file and renames it, and --fsync makes it durable
# before this exits 0; any failure exits non-zero, so PostgreSQL keeps the file and retries.
set -eu
exec rsync --fsync --timeout=60 -e "ssh -F ${SSH_ETC:?}/ssh_config" "$1" "barman:$2"
