#!/bin/sh
# archive_command = 'archive-wal %p %f': hand a WAL file to Barman through the shared volume.
# Atomic (copy to tmp/, fsync, rename into incoming/) and idempotent (an identical file already waiting
# counts as archived). Exits non-zero on any doubt, so PostgreSQL keeps the file and retries.
set -eu
src="$1"
name="$2"
share=${WAL_SHARE:?}
dst="$share/incoming/$name"
if [ -e "$dst" ]; then
    cmp -s "$src" "$dst" && exit 0
    echo "archive-wal: $name is already waiting in incoming/ with different content" >&2
    exit 1
fi
# The images leave the volume's mount point empty (several containers created at once on a new volume
# would each copy the image's folders into it and collide); whoever comes first creates them, group-writable.
for d in incoming tmp; do
    # Another node may create it at the same moment: an existing folder is success.
    [ -d "$share/$d" ] || mkdir -m 2775 "$share/$d" 2>/dev/null || [ -d "$share/$d" ]
done
# Every node archives (archive_mode = always): the host name keeps temporary names apart.
tmp="$share/tmp/$name.$(hostname).$$"
cp "$src" "$tmp"
# Group-readable for Barman (group walshare, inherited from the setgid folder); cp keeps pg_wal's 0600.
chmod 0640 "$tmp"
sync "$tmp"
mv "$tmp" "$dst"
