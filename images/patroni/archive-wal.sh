#!/bin/sh
# archive_command = 'archive-wal %p %f': hand a WAL file to Barman through the shared volume.
# Atomic (copy to tmp/, fsync, rename into incoming/) and idempotent (an identical file already waiting
# counts as archived). Exits non-zero on any doubt, so PostgreSQL keeps the file and retries.
set -eu
src="$1"
name="$2"
share=${WAL_SHARE:?}
dst="$share/incoming/$name"
if [ -L "$dst" ] || { [ -e "$dst" ] && [ ! -f "$dst" ]; }; then
    echo "archive-wal: incoming/$name is there but not a regular file" >&2
    exit 1
fi
if [ -e "$dst" ]; then
    cmp -s "$src" "$dst" && exit 0
    echo "archive-wal: $name is already waiting in incoming/ with different content" >&2
    exit 1
fi
walshare-dirs
# A fresh temporary file of our own (mktemp: random name, created exclusively, so nothing planted in the
# share, a symlink included, is ever written through), filled, made group-readable for Barman, flushed,
# then renamed into incoming/ (rename replaces a name, it never follows one; -T refuses a directory).
tmp=$(mktemp "$share/tmp/$name.XXXXXXXXXX")
trap 'rm -f "$tmp"' EXIT
cat "$src" > "$tmp"
chmod 0640 "$tmp"
sync "$tmp"
mv -T "$tmp" "$dst"
trap - EXIT
