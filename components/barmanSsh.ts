import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { BARMAN_INCOMING } from "../configs/barman";
import { HAPROXY_SSH_PORT, SSH_PORT } from "../configs/layout";
import { childOptions } from "./docker";
import { authorizedKeyLine, knownHostsLine, renderSshClientConfig, renderSshdConfig, SSH_FILES, SshPeer } from "../configs/ssh";

/** What one container needs for its SSH side: two private keys (secret, delivered as env) and four plain files. */
export interface SshSide {
    /** Private host key of this container's sshd, OpenSSH format (secret). */
    hostKey: pulumi.Output<string>;
    /** Private client key this container logs in elsewhere with, OpenSSH format (secret). */
    clientKey: pulumi.Output<string>;
    /** sshd_config, ssh_config, known_hosts and authorized_keys: public material only. */
    files: { file: string; content: pulumi.Input<string> }[];
}

export interface BarmanSshArgs {
    /** Stack name, used in key comments. */
    stack: string;
    /** Barman's fixed address: archive_command pushes WAL there. */
    barmanAddress: string;
    /** HAProxy's fixed address: its SSH route reaches whoever leads, for rsync base backups. */
    haproxyAddress: string;
}

/**
 * barman.mode "rsync": four ED25519 keys generated per stack (kept in Pulumi state as secrets, never in
 * an image, a file of this repository or a plain output): the Patroni nodes' shared host key (shared,
 * so Barman's known_hosts holds for whichever node HAProxy routes to), Barman's host key, the nodes'
 * archive key (Barman lets it only write WAL into incoming/, through rrsync) and Barman's backup key.
 */
export class BarmanSsh extends pulumi.ComponentResource {
    /** The SSH side of every Patroni node. */
    public readonly node: SshSide;
    /** The SSH side of the Barman container. */
    public readonly barman: SshSide;

    constructor(name: string, args: BarmanSshArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:BarmanSsh", name, {}, opts);
        const key = (keyName: string) => new tls.PrivateKey(`${name}-${keyName}`, { algorithm: "ED25519" }, childOptions(this, keyName));
        const nodeHost = key("node-host-key"),
            barmanHost = key("barman-host-key");
        const archive = key("archive-key"),
            backup = key("backup-key");
        const secretPem = (k: tls.PrivateKey) => pulumi.secret(k.privateKeyOpenssh);
        const toBarman: SshPeer = { alias: "barman", address: args.barmanAddress, port: SSH_PORT, user: "barman" };
        const toLeader: SshPeer = { alias: "leader", address: args.haproxyAddress, port: HAPROXY_SSH_PORT, user: "postgres" };
        // One side: its own host and client keys, the peer it logs in to, and the one key it lets in.
        const side = (
            user: string,
            hostKey: tls.PrivateKey,
            clientKey: tls.PrivateKey,
            peer: SshPeer,
            peerHostKey: tls.PrivateKey,
            authorized: pulumi.Output<string>,
        ): SshSide => ({
            hostKey: secretPem(hostKey),
            clientKey: secretPem(clientKey),
            files: [
                { file: SSH_FILES.sshdConfig, content: renderSshdConfig(user) },
                { file: SSH_FILES.clientConfig, content: renderSshClientConfig(peer) },
                { file: SSH_FILES.knownHosts, content: peerHostKey.publicKeyOpenssh.apply(k => knownHostsLine(peer, k)) },
                { file: SSH_FILES.authorizedKeys, content: authorized },
            ],
        });
        this.node = side(
            "postgres",
            nodeHost,
            archive,
            toBarman,
            barmanHost,
            // Only what `barman check` and `barman backup` run: `true` and an rsync server in the sender role.
            backup.publicKeyOpenssh.apply(k => authorizedKeyLine(k, `barman-backup@${args.stack}`, "/usr/local/bin/barman-backup-gate")),
        );
        this.barman = side(
            "barman",
            barmanHost,
            backup,
            toLeader,
            nodeHost,
            archive.publicKeyOpenssh.apply(k =>
                authorizedKeyLine(k, `wal-archive@${args.stack}`, `/usr/bin/rrsync -wo ${BARMAN_INCOMING}`),
            ),
        );
        this.registerOutputs({ nodeFiles: this.node.files.map(f => f.content), barmanFiles: this.barman.files.map(f => f.content) });
    }
}

/** Environment entries that deliver an SSH side's private keys (base64: one line each). */
export function sshEnvs(side: SshSide): pulumi.Output<string[]> {
    return pulumi.secret(
        pulumi
            .all([side.hostKey, side.clientKey])
            .apply(([host, client]) => [
                `SSH_HOST_KEY_B64=${Buffer.from(host).toString("base64")}`,
                `SSH_CLIENT_KEY_B64=${Buffer.from(client).toString("base64")}`,
            ]),
    );
}
