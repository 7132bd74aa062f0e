import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { RoleResources } from "../config";
import { EXPORTER_PORT, HAPROXY_WRITE_PORT, ROLES } from "../configs/layout";
import { commonContainerArgs, dockerName, healthcheck, stackNetwork } from "./docker";

export interface MetricsExporterArgs {
    /** Stack name; the container is `<stack>-exporter`. */
    stack: string;
    /** Exporter image reference. */
    image: pulumi.Input<string>;
    /** Name of the stack's Docker network. */
    networkName: pulumi.Input<string>;
    /** The exporter's fixed address on the stack network. */
    address: string;
    /** HAProxy's address: the exporter reads the leader through the write listener. */
    haproxyAddress: string;
    /** Host address and port the metrics are published on. */
    bindAddress: string;
    hostPort: number;
    /** Password of the `monitor` role (pg_monitor). */
    monitorPassword: pulumi.Input<string>;
    /** Optional container limits (shares the HAProxy role's). */
    resources: RoleResources;
}

/** Prometheus PostgreSQL exporter for the cluster: server, replication lag, archiving and slot metrics. */
export class MetricsExporter extends pulumi.ComponentResource {
    public readonly container: docker.Container;

    constructor(name: string, args: MetricsExporterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:MetricsExporter", name, {}, opts);
        const envs = pulumi.secret(pulumi.output(args.monitorPassword).apply(pw => [
            `DATA_SOURCE_NAME=postgresql://${ROLES.monitor}:${encodeURIComponent(pw)}@${args.haproxyAddress}:${HAPROXY_WRITE_PORT}/postgres?sslmode=disable&application_name=exporter`,
        ]));
        this.container = new docker.Container("exporter", {
            ...commonContainerArgs(args.stack, "exporter", args.resources),
            name: dockerName(args.stack, "exporter"),
            hostname: "exporter",
            image: args.image,
            envs,
            networksAdvanced: stackNetwork(args.networkName, args.address, "exporter"),
            ports: [{ internal: EXPORTER_PORT, external: args.hostPort, ip: args.bindAddress }],
            healthcheck: healthcheck(`curl -fsS -o /dev/null http://127.0.0.1:${EXPORTER_PORT}/metrics`, "10s"),
            stopTimeout: 10,
        }, { parent: this, deleteBeforeReplace: true });
        this.registerOutputs({ container: this.container.name });
    }
}
