import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { RoleResources } from "../config";
import { VOLUME_METRICS_PORT, VOLUMES_PROBE } from "../configs/layout";
import { childOptions, commonContainerArgs, dockerName, healthcheck, Placement, stackLabels, stackNetwork } from "./docker";

export interface VolumeMetricsArgs {
    /** Network and Docker name prefix (the container is `<stack>-volume-metrics`); nothing is published. */
    placement: Placement;
    /** Node exporter image reference. */
    image: pulumi.Input<string>;
    /** The container's fixed address on the stack network (Prometheus scrapes it there). */
    address: string;
    /** Optional container limits (shares the HAProxy role's, as the exporter does). */
    resources: RoleResources;
}

/**
 * Free and total bytes of the filesystem that holds the stack's Docker volumes, for Prometheus
 * (DataVolumeFilling): Debian's node exporter with the filesystem collector only, on a probe volume of its
 * own. Docker's local driver keeps every volume of the stack (each node's PostgreSQL with pg_wal, etcd,
 * Barman, Prometheus) as a directory on that one filesystem, so the probe reports what each of them would:
 * without mounting any data into this container, and without a change here when a node is added or removed.
 */
export class VolumeMetrics extends pulumi.ComponentResource {
    public readonly container: docker.Container;

    constructor(name: string, args: VolumeMetricsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:VolumeMetrics", name, {}, opts);
        const { stack, serviceNetworkName } = args.placement;
        // Empty, so not kept on destroy (unlike the data volumes).
        const probe = new docker.Volume(
            `${name}-probe`,
            { name: dockerName(stack, "volume-metrics-probe"), labels: stackLabels(stack, "volume-metrics") },
            childOptions(this, "volume-metrics-probe"),
        );
        this.container = new docker.Container(
            `${name}-container`,
            {
                ...commonContainerArgs(stack, "volume-metrics", args.resources),
                name: dockerName(stack, "volume-metrics"),
                hostname: "volume-metrics",
                image: args.image,
                // The exporter writes nothing.
                readOnly: true,
                networksAdvanced: stackNetwork(serviceNetworkName, args.address, "volume-metrics"),
                volumes: [{ volumeName: probe.name, containerPath: VOLUMES_PROBE, readOnly: true }],
                healthcheck: healthcheck(
                    `curl -fsS http://127.0.0.1:${VOLUME_METRICS_PORT}/metrics | grep -q '^node_filesystem_avail_bytes{.*mountpoint="${VOLUMES_PROBE}"'`,
                    "10s",
                ),
                stopTimeout: 5,
            },
            childOptions(this, "volume-metrics", { deleteBeforeReplace: true }),
        );
        this.registerOutputs({ container: this.container.name });
    }
}
