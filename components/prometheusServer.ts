import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { RoleResources } from "../config";
import { PROMETHEUS_CONFIG, PROMETHEUS_DATA, PROMETHEUS_PATRONI_TARGETS, PROMETHEUS_PORT } from "../configs/layout";
import {
    AlertRulesInput,
    PrometheusConfigInput,
    renderAlertRules,
    renderPatroniTargets,
    renderPrometheusYml,
    RULES_FILE,
} from "../configs/prometheus";
import { ContainerFile } from "./containerFile";
import { childOptions, commonContainerArgs, dockerName, healthcheck, Placement, stackLabels, stackNetwork } from "./docker";
import { FileUpload } from "./stackCa";

export interface PrometheusServerArgs {
    /** Network, host binding and Docker name prefix (the container is `<stack>-prometheus`). */
    placement: Placement;
    /** Prometheus image reference. */
    image: pulumi.Input<string>;
    /** Prometheus's fixed address on the stack network. */
    address: string;
    /** What to scrape (fixed addresses of the stack's parts). */
    targets: PrometheusConfigInput;
    /** The Patroni members, by name and service-network address: a targets file written into the running container. */
    members: { name: string; address: string }[];
    /** Alert thresholds. */
    alerts: AlertRulesInput;
    /** Host port the web UI and API are published on. */
    hostPort: number;
    /** Optional container limits (shares the Barman role's). */
    resources: RoleResources;
    /** The stack's CA certificate as an upload: Patroni's metrics are scraped over verified HTTPS. */
    caUpload: FileUpload;
}

/** The optional Prometheus server: scrapes every metrics endpoint and evaluates the stack's alert rules. */
export class PrometheusServer extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    public readonly config: string;
    public readonly rules: string;
    /** The Patroni members' targets file inside the container (rewritten when the node count changes). */
    public readonly patroniTargets: ContainerFile;

    constructor(name: string, args: PrometheusServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:PrometheusServer", name, {}, opts);
        this.config = renderPrometheusYml(args.targets);
        this.rules = renderAlertRules(args.alerts);
        const { stack, serviceNetworkName, adminBindAddress } = args.placement;
        const data = new docker.Volume(
            `${name}-data`,
            {
                name: dockerName(stack, "prometheus-data"),
                labels: stackLabels(stack, "prometheus"),
            },
            childOptions(this, "prometheus-data"),
        );
        this.container = new docker.Container(
            `${name}-container`,
            {
                ...commonContainerArgs(stack, "prometheus", args.resources),
                name: dockerName(stack, "prometheus"),
                hostname: "prometheus",
                image: args.image,
                uploads: [{ file: PROMETHEUS_CONFIG, content: this.config }, { file: RULES_FILE, content: this.rules }, args.caUpload],
                networksAdvanced: stackNetwork(serviceNetworkName, args.address, "prometheus"),
                ports: [{ internal: PROMETHEUS_PORT, external: args.hostPort, ip: adminBindAddress }],
                volumes: [{ volumeName: data.name, containerPath: PROMETHEUS_DATA }],
                healthcheck: healthcheck(`curl -fsS -o /dev/null http://127.0.0.1:${PROMETHEUS_PORT}/-/ready`, "30s"),
                stopTimeout: 30,
            },
            childOptions(this, "prometheus", { deleteBeforeReplace: true }),
        );
        this.patroniTargets = new ContainerFile(
            `${name}-patroni-targets`,
            {
                container: this.container.name,
                containerId: this.container.id,
                path: PROMETHEUS_PATRONI_TARGETS,
                content: renderPatroniTargets(args.members),
            },
            { parent: this },
        );
        this.registerOutputs({ container: this.container.name, config: this.config, rules: this.rules });
    }
}
