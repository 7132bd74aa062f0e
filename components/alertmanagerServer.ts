import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { RoleResources } from "../config";
import { renderAlertmanagerYml } from "../configs/alertmanager";
import { ALERTMANAGER_CONFIG, ALERTMANAGER_DATA, ALERTMANAGER_PORT } from "../configs/layout";
import { childOptions, commonContainerArgs, dockerName, healthcheck, Placement, stackLabels, stackNetwork } from "./docker";

export interface AlertmanagerServerArgs {
    /** Network, host binding and Docker name prefix (the container is `<stack>-alertmanager`). */
    placement: Placement;
    /** Alertmanager image reference. */
    image: pulumi.Input<string>;
    /** Alertmanager's fixed address on the stack network (Prometheus sends alerts there). */
    address: string;
    /** Where every alert goes. */
    webhookUrl: string;
    /** Host port the web UI and API are published on (on adminBindAddress). */
    hostPort: number;
    /** Optional container limits (shares the Barman role's, as Prometheus does). */
    resources: RoleResources;
}

/** The optional Alertmanager: routes every alert Prometheus fires (and its resolution) to one webhook. */
export class AlertmanagerServer extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    public readonly config: string;

    constructor(name: string, args: AlertmanagerServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:AlertmanagerServer", name, {}, opts);
        this.config = renderAlertmanagerYml({ webhookUrl: args.webhookUrl });
        const { stack, serviceNetworkName, adminBindAddress } = args.placement;
        // Silences and the notification log survive a container replacement.
        const data = new docker.Volume(
            `${name}-data`,
            { name: dockerName(stack, "alertmanager-data"), labels: stackLabels(stack, "alertmanager") },
            childOptions(this, "alertmanager-data"),
        );
        this.container = new docker.Container(
            `${name}-container`,
            {
                ...commonContainerArgs(stack, "alertmanager", args.resources),
                name: dockerName(stack, "alertmanager"),
                hostname: "alertmanager",
                image: args.image,
                uploads: [{ file: ALERTMANAGER_CONFIG, content: this.config }],
                networksAdvanced: stackNetwork(serviceNetworkName, args.address, "alertmanager"),
                ports: [{ internal: ALERTMANAGER_PORT, external: args.hostPort, ip: adminBindAddress }],
                volumes: [{ volumeName: data.name, containerPath: ALERTMANAGER_DATA }],
                healthcheck: healthcheck(`curl -fsS -o /dev/null http://127.0.0.1:${ALERTMANAGER_PORT}/-/ready`, "30s"),
                stopTimeout: 30,
            },
            childOptions(this, "alertmanager", { deleteBeforeReplace: true }),
        );
        this.registerOutputs({ container: this.container.name, config: this.config });
    }
}
