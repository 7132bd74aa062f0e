#!/usr/bin/env bash
# `npm run up` / `npm run destroy`: deploy or remove a stack (default: dev) with the Pulumi CLI on the
# local state backend in ./.pulumi, so no Pulumi Cloud account is needed.
#   npm run up                 # the dev stack (Pulumi.dev.yaml)
#   STACK=prod npm run up      # another stack (Pulumi.prod.yaml)
#   npm run preview            # what `up` would change
#   npm run destroy            # asks first (Pulumi's prompt); `npm run destroy -- --yes` does not
#   npm run --silent outputs -- outputs.json  # outputs with secrets into a 0600 file (stdout without FILE)
#   npm run --silent output -- writeConnectionString   # one output, secrets shown (for psql "$(...)")
#   npm run rotate-password -- replication  # a new generated password (pulumi up --replace), rolled out
#   npm run up -- --target-dependents …     # extra arguments go to `pulumi up`
# Secrets in state are encrypted with a passphrase: PULUMI_CONFIG_PASSPHRASE(_FILE) if you set one,
# otherwise one is generated once into ~/.config/patroni-ha/<project id>.passphrase (mode 0600, outside
# the project; a .pulumi/passphrase from an earlier version is still used). Keep it: without it the
# stack's secrets cannot be decrypted.
set -euo pipefail
cd "$(dirname "$0")/.."
action="${1:?usage: pulumi-local.sh up|destroy|preview|outputs|output NAME|rotate-password NAME}"
# The generated passwords `rotate-password` replaces (cluster-<name>-password in components/cluster.ts).
passwords="superuser replication rewind app barman streaming-barman monitor patroni-api stats"
if [ "$action" = rotate-password ]; then
    name="${2:-}"
    case " $passwords " in
    *" $name "*) ;;
    *) echo "usage: npm run rotate-password -- NAME, NAME one of: $passwords" >&2; exit 2 ;;
    esac
fi
stack="${STACK:-dev}"
command -v pulumi >/dev/null || { echo "The Pulumi CLI is required: https://www.pulumi.com/docs/install/" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "No Docker engine answers (docker info failed)." >&2; exit 1; }
mkdir -p .pulumi
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.pulumi}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    if [ -s .pulumi/passphrase ]; then
        # Generated here by an earlier version: still used, but it sits next to the state it protects.
        passfile="$PWD/.pulumi/passphrase"
        echo "Note: the state passphrase is in .pulumi/passphrase, next to the state it encrypts; move it out of the project (for example to ${XDG_CONFIG_HOME:-$HOME/.config}/patroni-ha/) and set PULUMI_CONFIG_PASSPHRASE_FILE." >&2
    else
        # Outside the project, so a copy or backup of the project (state included) does not carry the key:
        # ~/.config/patroni-ha/<project id>.passphrase, the id (not secret) kept in .pulumi/project-id.
        [ -s .pulumi/project-id ] || (umask 077; head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > .pulumi/project-id)
        keys="${XDG_CONFIG_HOME:-$HOME/.config}/patroni-ha"
        passfile="$keys/$(cat .pulumi/project-id).passphrase"
        if [ ! -s "$passfile" ]; then
            (umask 077; mkdir -p "$keys"; head -c 32 /dev/urandom | base64 > "$passfile")
            echo "Generated a state passphrase in $passfile (outside the project; keep it safe: without it the stack's secrets cannot be decrypted)." >&2
        fi
    fi
    export PULUMI_CONFIG_PASSPHRASE_FILE="$passfile"
fi
# Chatter to stderr, so `outputs` prints nothing but JSON; only up/preview may create the stack.
if [ "$action" = up ] || [ "$action" = preview ]; then pulumi stack select --create "$stack" >&2; else pulumi stack select "$stack" >&2; fi
case "$action" in
    up) pulumi up --yes "${@:2}" --stack "$stack" && pulumi stack output --stack "$stack" ;;
    # The role's password is set on the leader first, then the nodes roll one by one (docs/security.md).
    rotate-password)
        pulumi up --yes --stack "$stack" \
            --replace "urn:pulumi:$stack::patroni-ha::patroni-ha:index:PatroniCluster\$random:index/randomPassword:RandomPassword::cluster-$2-password" ;;
    # Extra arguments (e.g. --yes) go to Pulumi; without --yes Pulumi shows the plan and asks.
    destroy) pulumi destroy "${@:2}" --stack "$stack" ;;
    preview) pulumi preview "${@:2}" --stack "$stack" ;;
    outputs)
        if [ -n "${2:-}" ]; then
            # Written by this process with umask 077: a shell redirect would create it world-readable.
            (umask 077 && rm -f "$2" && pulumi stack output --json --show-secrets --stack "$stack" > "$2")
            echo "wrote $2 (mode 0600; it holds every password of the stack)" >&2
        else
            pulumi stack output --json --show-secrets --stack "$stack"
        fi ;;
    output) pulumi stack output "${2:?usage: npm run --silent output -- NAME}" --show-secrets --stack "$stack" ;;
    *) echo "unknown action $action" >&2; exit 2 ;;
esac
