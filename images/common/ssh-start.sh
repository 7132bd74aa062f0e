#!/bin/sh
# barman.mode "rsync" only: start this container's SSH side. The stack uploads sshd_config, ssh_config,
# known_hosts and authorized_keys (no secret in them) to /etc/ssh-ha; the two private keys arrive as
# environment variables (base64) and are written, 0600, to /run/ssh-ha, which is not on a volume: they
# live as long as the container. sshd runs as the container's own user on port 2222, logging to stderr.
set -eu
if [ -z "${SSH_HOST_KEY_B64:-}" ]; then exit 0; fi
umask 077
printf '%s' "$SSH_HOST_KEY_B64" | base64 -d > "${SSH_RUN:?}/host_key"
printf '%s' "$SSH_CLIENT_KEY_B64" | base64 -d > "$SSH_RUN/id_ed25519"
/usr/sbin/sshd -t -f "${SSH_ETC:?}/sshd_config"
/usr/sbin/sshd -D -e -f "$SSH_ETC/sshd_config" &
