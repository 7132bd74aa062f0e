import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { BarmanSpec, RoleResources } from "../config";
import { BARMAN_SERVER, renderBarmanConf, renderBarmanServer } from "../configs/barman";
import { BARMAN_BACKUPS, BARMAN_CONFIG, BARMAN_HOME, BARMAN_METRICS_PORT, BARMAN_SERVER_DIR, WAL_SHARE } from "../configs/layout";
import { SshSide, sshEnvs } from "./barmanSsh";
import { childOptions, commonContainerArgs, dataVolume, dockerName, healthcheck, Placement, secretEnvUpload, stackNetwork } from "./docker";
import { FileUpload } from "./stackCa";

export interface BarmanServerArgs {
    /** Network, host binding and Docker name prefix (the container is `<stack>-barman`). */
    placement: Placement;
    /** Barman image reference. */
    image: pulumi.Input<string>;
    /** Barman's fixed address on the stack network. */
    address: string;
    /** HAProxy's address: Barman reaches the leader through the write listener. */
    haproxyAddress: string;
    /** Mode, retention, compression and schedule. */
    spec: BarmanSpec;
    /** Password of the `barman` role (base backups). */
    barmanPassword: pulumi.Input<string>;
    /** Password of the `streaming_barman` role (WAL streaming). */
    streamingBarmanPassword: pulumi.Input<string>;
    /** Optional container limits. */
    resources: RoleResources;
    /** barman.mode "streaming": the shared WAL hand-off volume Barman's archiver reads. */
    walVolume?: pulumi.Input<string>;
    /** barman.mode "rsync": Barman's SSH side (sshd receiving WAL, the key for rsync backups). */
    ssh?: SshSide;
    /** Host port Barman's metrics are published on. */
    metricsHostPort: number;
    /** The stack's CA certificate as an upload: Barman verifies the nodes' certificates with it (verify-full). */
    caUpload: FileUpload;
}

/** Barman with its global and server configuration and two volumes: metadata and backups (or a host directory). */
export class BarmanServer extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** Docker name of the container, for operator commands. */
    public readonly containerName: string;
    /** The rendered global barman.conf and server section. */
    public readonly globalConfig: string;
    public readonly serverConfig: string;

    constructor(name: string, args: BarmanServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:BarmanServer", name, {}, opts);
        this.globalConfig = renderBarmanConf(args.spec);
        const { stack, serviceNetworkName, adminBindAddress } = args.placement;
        this.serverConfig = renderBarmanServer({ stack, haproxyAddress: args.haproxyAddress, mode: args.spec.mode });
        this.containerName = dockerName(stack, "barman");
        const volume = (suffix: string) => dataVolume(this, `${name}-${suffix}`, `barman-${suffix}`, "barman", args.placement);
        const home = volume("home");
        // Backups on a host directory when barman.backupDir says so (the stack never deletes it), else a volume.
        const backups = args.spec.backupDir
            ? { hostPath: args.spec.backupDir, containerPath: BARMAN_BACKUPS }
            : { volumeName: volume("backups").name, containerPath: BARMAN_BACKUPS };
        const ssh = args.ssh ? sshEnvs(args.ssh) : pulumi.output([] as string[]);
        // Passwords and keys in the secret file (the entrypoint writes .pgpass from them); the rest plain.
        const secrets = secretEnvUpload(
            pulumi
                .all([args.barmanPassword, args.streamingBarmanPassword, ssh])
                .apply(([barman, streaming, sshKeys]) => [
                    `BARMAN_PASSWORD=${barman}`,
                    `STREAMING_BARMAN_PASSWORD=${streaming}`,
                    ...sshKeys,
                ]),
        );
        const envs = [
            `BARMAN_SERVER=${BARMAN_SERVER}`,
            `BACKUP_SCHEDULE=${args.spec.backupSchedule}`,
            `RESTORE_DRILL_SCHEDULE=${args.spec.restoreDrillSchedule}`,
            `METRICS_PORT=${BARMAN_METRICS_PORT}`,
        ];
        this.container = new docker.Container(
            `${name}-container`,
            {
                ...commonContainerArgs(stack, "barman", args.resources),
                name: this.containerName,
                hostname: "barman",
                image: args.image,
                envs,
                uploads: [
                    { file: BARMAN_CONFIG, content: this.globalConfig },
                    { file: `${BARMAN_SERVER_DIR}/${BARMAN_SERVER}.conf`, content: this.serverConfig },
                    ...(args.ssh?.files ?? []),
                    args.caUpload,
                    secrets,
                ],
                networksAdvanced: stackNetwork(serviceNetworkName, args.address, "barman"),
                ports: [{ internal: BARMAN_METRICS_PORT, external: args.metricsHostPort, ip: adminBindAddress }],
                volumes: [
                    { volumeName: home.name, containerPath: BARMAN_HOME },
                    backups,
                    ...(args.walVolume ? [{ volumeName: args.walVolume, containerPath: WAL_SHARE }] : []),
                ],
                healthcheck: healthcheck(`barman-health ${BARMAN_SERVER}`, "120s"),
                stopTimeout: 30,
            },
            childOptions(this, "barman", { deleteBeforeReplace: true }),
        );
        this.registerOutputs({ containerName: this.containerName, globalConfig: this.globalConfig, serverConfig: this.serverConfig });
    }
}
