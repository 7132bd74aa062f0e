import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { MemberSpec, RoleResources } from "../config";
import { API_PORT, PATRONI_CONFIG, PG_HOME, PG_PORT, TLS_FILES, WAL_SHARE } from "../configs/layout";
import { bootstrapPgHba } from "../configs/dcs";
import { renderPatroniYml } from "../configs/patroni";
import { SshSide, sshEnvs } from "./barmanSsh";
import { memberLeaf, StackCa } from "./stackCa";
import {
    bothNetworks,
    childOptions,
    commonContainerArgs,
    containerFingerprint,
    dataVolume,
    dockerName,
    healthcheck,
    Placement,
    secretEnvUpload,
} from "./docker";

/**
 * Passwords a node needs; they reach the container in its secret file (SECRET_ENV, an upload only the
 * container's user can read), never in its environment, an argv or an image.
 */
export interface PatroniSecrets {
    /** PostgreSQL superuser (`postgres`). */
    superuserPassword: pulumi.Input<string>;
    /** Streaming replication user (`replicator`). */
    replicationPassword: pulumi.Input<string>;
    /** pg_rewind user (`rewind_user`). */
    rewindPassword: pulumi.Input<string>;
    /** Patroni REST API user for unsafe endpoints (PATCH /config, POST /switchover ...). */
    apiUser: pulumi.Input<string>;
    /** Patroni REST API password. */
    apiPassword: pulumi.Input<string>;
    /** Application role password, used once by the post-bootstrap script. */
    appPassword: pulumi.Input<string>;
    /** Barman's superuser-like role for base backups. */
    barmanPassword: pulumi.Input<string>;
    /** Barman's replication role for WAL streaming. */
    streamingBarmanPassword: pulumi.Input<string>;
    /** The metrics exporter's pg_monitor role. */
    monitorPassword: pulumi.Input<string>;
}

export interface PatroniNodeArgs {
    /** Network, host binding and Docker name prefix (the container is `<stack>-<member name>`). */
    placement: Placement;
    /** This member: name (`db<n>`), fixed address, host ports. */
    member: MemberSpec;
    /** Patroni scope shared by every node. */
    scope: string;
    /** Stack subnet (CIDR), for the pg_hba lines used at initdb. */
    subnet: string;
    /**
     * Who besides loopback may call the REST API's unsafe endpoints: the stack network's gateway (where the
     * host's tools arrive through the published port) and every address a node may have (the members'
     * `POST /failsafe` must pass while the DCS is down, when Patroni knows no member list to allow).
     */
    apiClients: string[];
    /** Addresses of every etcd member. */
    etcdAddresses: string[];
    /** Patroni + PostgreSQL image reference. */
    image: pulumi.Input<string>;
    /** Application database and role created at bootstrap. */
    app: { database: string; user: string };
    /** Passwords (secret outputs). */
    secrets: PatroniSecrets;
    /** Optional container limits. */
    resources: RoleResources;
    /** barman.mode "streaming": the shared WAL hand-off volume (archive_command writes into it). */
    walVolume?: pulumi.Input<string>;
    /** The stack's CA: issues this node's certificate (PostgreSQL's server certificate, its etcd client identity). */
    ca: StackCa;
    /**
     * Addresses this node is dialled on besides its own and loopback, which its certificate carries: the host
     * address of its published ports, and those of the write and read ports and HAProxy's (HAProxy passes a
     * client's TLS through to whichever node it picks, so that node answers for the name the client dialled).
     */
    certificateAddresses: string[];
    /** barman.mode "rsync": this node's SSH side (sshd for Barman's rsync backups, the archive key). */
    ssh?: SshSide;
    /**
     * What the container waits for before it is created or replaced: its step in the rolling replacement
     * (PatroniRollout), which may only exist after every node is declared, hence a promise.
     */
    rolloutGate?: pulumi.Input<pulumi.Resource[]>;
}

/** One Patroni + PostgreSQL 15 member: a container, its data volume and its rendered patroni.yml. */
export class PatroniNode extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** The container's Docker name, known before it exists (`<stack>-<member>`). */
    public readonly containerName: string;
    /** The rendered node-local patroni.yml (no secrets in it). */
    public readonly patroniYml: string;
    /** The PostgreSQL data volume's Docker name. */
    public readonly dataVolumeName: pulumi.Output<string>;
    /** A digest of every input of the container: it changes when the container is replaced (containerFingerprint). */
    public readonly fingerprint: pulumi.Output<string>;

    constructor(name: string, args: PatroniNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:PatroniNode", name, {}, opts);
        const { stack, adminBindAddress } = args.placement;
        const member = args.member;
        this.containerName = dockerName(stack, member.name);
        this.patroniYml = renderPatroniYml({
            scope: args.scope,
            name: member.name,
            address: member.address,
            etcdAddresses: args.etcdAddresses,
            pgHba: bootstrapPgHba(args.subnet),
            apiAllowlist: [...args.apiClients, "127.0.0.1"],
        });
        const volume = dataVolume(this, `${name}-data`, `${member.name}-data`, "patroni", args.placement);
        this.dataVolumeName = volume.name;
        const s = args.secrets;
        const passwordEnvs = pulumi.secret(
            pulumi
                .all([
                    s.superuserPassword,
                    s.replicationPassword,
                    s.rewindPassword,
                    s.apiUser,
                    s.apiPassword,
                    s.appPassword,
                    s.barmanPassword,
                    s.streamingBarmanPassword,
                    s.monitorPassword,
                ])
                .apply(([su, repl, rewind, apiUser, apiPassword, app, barman, streaming, monitor]) => [
                    `PATRONI_SUPERUSER_PASSWORD=${su}`,
                    `PATRONI_REPLICATION_PASSWORD=${repl}`,
                    `PATRONI_REWIND_PASSWORD=${rewind}`,
                    `PATRONI_RESTAPI_USERNAME=${apiUser}`,
                    `PATRONI_RESTAPI_PASSWORD=${apiPassword}`,
                    `APP_PASSWORD=${app}`,
                    `BARMAN_PASSWORD=${barman}`,
                    `STREAMING_BARMAN_PASSWORD=${streaming}`,
                    `MONITOR_PASSWORD=${monitor}`,
                ]),
        );
        const tls = args.ca.containerTls(
            member.name,
            memberLeaf(member.name, this.containerName, member.address, [member.serviceAddress, ...args.certificateAddresses]),
        );
        // Secrets as NAME=value lines in the secret file (`secret-env` exports them at start); the
        // environment keeps only what is no secret.
        const secretEnv = secretEnvUpload(
            pulumi
                .all([passwordEnvs, args.ssh ? sshEnvs(args.ssh) : [], tls.keyEnv])
                .apply(([passwords, ssh, key]) => [...passwords, ...ssh, key]),
        );
        const envs = [`PATRONICTL_CONFIG_FILE=${PATRONI_CONFIG}`, `APP_DATABASE=${args.app.database}`, `APP_USER=${args.app.user}`];
        const containerArgs: docker.ContainerArgs = {
            ...commonContainerArgs(stack, "patroni", args.resources),
            name: this.containerName,
            hostname: member.name,
            image: args.image,
            user: "postgres",
            // Exports the secret file, writes the TLS key, starts sshd in rsync mode, then execs `patroni <config>`.
            command: ["secret-env", "tls-key", "patroni-entrypoint", PATRONI_CONFIG],
            envs,
            uploads: [{ file: PATRONI_CONFIG, content: this.patroniYml }, secretEnv, ...tls.uploads, ...(args.ssh?.files ?? [])],
            // The stack network first: etcd and the other members are there (and the engine's sorting by
            // name makes it the one the published ports forward to); HAProxy, Barman and Prometheus reach
            // the node on the service network.
            networksAdvanced: bothNetworks(args.placement, member.address, member.serviceAddress, member.name),
            ports: [
                { internal: PG_PORT, external: member.hostPostgresPort, ip: adminBindAddress },
                { internal: API_PORT, external: member.hostApiPort, ip: adminBindAddress },
            ],
            volumes: [
                { volumeName: volume.name, containerPath: PG_HOME },
                ...(args.walVolume ? [{ volumeName: args.walVolume, containerPath: WAL_SHARE }] : []),
            ],
            // /tmp holds Patroni's pgpass and the role-passwords file: memory only, never a layer or a volume.
            tmpfs: { "/tmp": "rw,nosuid,nodev,mode=1777,size=16m", ...tls.tmpfs },
            healthcheck: healthcheck(`curl -fsS --cacert ${TLS_FILES.ca} -o /dev/null https://127.0.0.1:${API_PORT}/health`, "120s"),
            // Patroni demotes cleanly and releases the leader key on SIGTERM, so replicas take over at
            // once instead of waiting for the TTL; give it the time to do so.
            stopSignal: "SIGTERM",
            stopTimeout: 60,
            shmSize: 256,
        };
        this.fingerprint = containerFingerprint(containerArgs);
        this.container = new docker.Container(
            name,
            containerArgs,
            childOptions(this, member.name, { deleteBeforeReplace: true, dependsOn: args.rolloutGate }),
        );
        this.registerOutputs({
            container: this.container.name,
            patroniYml: this.patroniYml,
            dataVolume: volume.name,
            fingerprint: this.fingerprint,
        });
    }
}
