#!/usr/bin/env bash
# Make sure the base image exists locally: use it if present, else pull it, else (no registry reachable)
# build a Debian bookworm minbase root with debootstrap and import it under that name.
set -euo pipefail
image="${1:-debian:bookworm-slim}"
if docker image inspect "$image" >/dev/null 2>&1; then exit 0; fi
echo "base image $image absent; trying docker pull" >&2
if timeout 120 docker pull -q "$image" >/dev/null 2>&1; then exit 0; fi
echo "pull failed; building $image with debootstrap (about 30-60 s)" >&2
command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" >/dev/null
tar -C "$root" -c . | docker import - "$image" >/dev/null
echo "imported $image" >&2
