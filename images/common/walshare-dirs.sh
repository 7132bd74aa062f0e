#!/bin/sh
# Make the shared WAL volume's folders if they are missing (both images run it: a node's archive-wal and
# Barman's entrypoint). The images leave the volume's mount point empty (several containers created at once
# on a new volume would each copy the image's folders into it and collide), so whoever comes first creates
# them: group-writable and setgid (files get the walshare group); tmp/ sticky too, so a temporary file can
# be renamed or removed only by its owner. Another container may create one at the same moment: an existing
# folder is success. Exits non-zero if a folder is still missing.
set -u
status=0
for d in incoming:2775 tmp:3775; do
    dir="${WAL_SHARE:?}/${d%:*}"
    [ -d "$dir" ] || mkdir -m "${d#*:}" "$dir" 2>/dev/null || [ -d "$dir" ] || { echo "walshare-dirs: cannot create $dir" >&2; status=1; }
done
exit "$status"
