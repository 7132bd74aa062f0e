import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { RoleResources } from "../config";
import { EXPORTER_PORT, HAPROXY_WRITE_PORT, PG_VERIFIED_TLS, ROLES } from "../configs/layout";
import { childOptions, commonContainerArgs, dockerName, healthcheck, Placement, secretEnvUpload, stackNetwork } from "./docker";
import { FileUpload } from "./stackCa";

export interface MetricsExporterArgs {
    /** Network, host binding and Docker name prefix (the container is `<stack>-exporter`). */
    placement: Placement;
    /** Exporter image reference. */
    image: pulumi.Input<string>;
    /** The exporter's fixed address on the stack network. */
    address: string;
    /** HAProxy's address: the exporter reads the leader through the write listener. */
    haproxyAddress: string;
    /** Host port the metrics are published on. */
    hostPort: number;
    /** Password of the `monitor` role (pg_monitor). */
    monitorPassword: pulumi.Input<string>;
    /** Optional container limits (shares the HAProxy role's). */
    resources: RoleResources;
    /** The stack's CA certificate as an upload: the exporter verifies the nodes' certificates with it (verify-full). */
    caUpload: FileUpload;
}

/** Prometheus PostgreSQL exporter for the cluster: server, replication lag, archiving and slot metrics. */
export class MetricsExporter extends pulumi.ComponentResource {
    public readonly container: docker.Container;

    constructor(name: string, args: MetricsExporterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:MetricsExporter", name, {}, opts);
        // The connection string holds the monitor role's password: in the secret file, not the environment.
        const secrets = secretEnvUpload(
            pulumi
                .output(args.monitorPassword)
                .apply(pw => [
                    `DATA_SOURCE_NAME=postgresql://${ROLES.monitor}:${encodeURIComponent(pw)}@${args.haproxyAddress}:${HAPROXY_WRITE_PORT}/postgres?sslmode=${PG_VERIFIED_TLS.sslmode}&sslrootcert=${PG_VERIFIED_TLS.sslrootcert}&application_name=exporter`,
                ]),
        );
        const { stack, serviceNetworkName, adminBindAddress } = args.placement;
        this.container = new docker.Container(
            `${name}-container`,
            {
                ...commonContainerArgs(stack, "exporter", args.resources),
                name: dockerName(stack, "exporter"),
                hostname: "exporter",
                image: args.image,
                uploads: [args.caUpload, secrets],
                networksAdvanced: stackNetwork(serviceNetworkName, args.address, "exporter"),
                ports: [{ internal: EXPORTER_PORT, external: args.hostPort, ip: adminBindAddress }],
                healthcheck: healthcheck(`curl -fsS -o /dev/null http://127.0.0.1:${EXPORTER_PORT}/metrics`, "10s"),
                stopTimeout: 10,
            },
            childOptions(this, "exporter", { deleteBeforeReplace: true }),
        );
        this.registerOutputs({ container: this.container.name });
    }
}
