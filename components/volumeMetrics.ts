import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { RoleResources } from "../config";
import { VOLUME_METRICS_PORT, VOLUMES_DIR, volumeMountPath } from "../configs/layout";
import { childOptions, commonContainerArgs, dockerName, healthcheck, Placement, stackNetwork } from "./docker";

/** A data volume to report on: whose it is and its Docker name. */
export interface WatchedVolume {
    /** "patroni" for a node's PostgreSQL data, "etcd" for a member's DCS data. */
    role: "patroni" | "etcd";
    /** Member name (db1, etcd1): with the role, the mount path and so the `mountpoint` label. */
    member: string;
    /** The Docker volume's name. */
    volumeName: pulumi.Input<string>;
}

export interface VolumeMetricsArgs {
    /** Network and Docker name prefix (the container is `<stack>-volume-metrics`); nothing is published. */
    placement: Placement;
    /** Node exporter image reference. */
    image: pulumi.Input<string>;
    /** The container's fixed address on the stack network (Prometheus scrapes it there). */
    address: string;
    /** Every data volume to report free and total bytes of. */
    volumes: WatchedVolume[];
    /** Optional container limits (shares the HAProxy role's, as the exporter does). */
    resources: RoleResources;
}

/**
 * Free and total bytes of the nodes' and etcd members' data volumes for Prometheus (DataVolumeFilling):
 * Debian's node exporter with the filesystem collector only, each volume mounted read-only. statvfs needs no
 * access to what is inside (PostgreSQL's directory is 0700), so the exporter's user reads nothing of the data.
 */
export class VolumeMetrics extends pulumi.ComponentResource {
    public readonly container: docker.Container;

    constructor(name: string, args: VolumeMetricsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:VolumeMetrics", name, {}, opts);
        const { stack, networkName } = args.placement;
        this.container = new docker.Container(
            `${name}-container`,
            {
                ...commonContainerArgs(stack, "volume-metrics", args.resources),
                name: dockerName(stack, "volume-metrics"),
                hostname: "volume-metrics",
                image: args.image,
                // The exporter writes nothing.
                readOnly: true,
                networksAdvanced: stackNetwork(networkName, args.address, "volume-metrics"),
                volumes: args.volumes.map(v => ({
                    volumeName: v.volumeName,
                    containerPath: volumeMountPath(v.role, v.member),
                    readOnly: true,
                })),
                healthcheck: healthcheck(
                    `curl -fsS http://127.0.0.1:${VOLUME_METRICS_PORT}/metrics | grep -q '^node_filesystem_avail_bytes{.*mountpoint="${VOLUMES_DIR}/'`,
                    "10s",
                ),
                stopTimeout: 5,
            },
            childOptions(this, "volume-metrics", { deleteBeforeReplace: true }),
        );
        this.registerOutputs({ container: this.container.name });
    }
}
