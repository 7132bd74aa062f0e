import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { RoleResources } from "../config";
import { PROMETHEUS_PORT } from "../configs/layout";
import { AlertRulesInput, PrometheusConfigInput, renderAlertRules, renderPrometheusYml, RULES_FILE } from "../configs/prometheus";
import { commonContainerArgs, dockerName, healthcheck, stackLabels, stackNetwork } from "./docker";

export interface PrometheusServerArgs {
    /** Stack name; the container is `<stack>-prometheus`. */
    stack: string;
    /** Prometheus image reference. */
    image: pulumi.Input<string>;
    /** Name of the stack's Docker network. */
    networkName: pulumi.Input<string>;
    /** Prometheus's fixed address on the stack network. */
    address: string;
    /** What to scrape (fixed addresses of the stack's parts). */
    targets: PrometheusConfigInput;
    /** Alert thresholds. */
    alerts: AlertRulesInput;
    /** Host address and port the web UI and API are published on. */
    bindAddress: string;
    hostPort: number;
    /** Optional container limits (shares the Barman role's). */
    resources: RoleResources;
}

/** The optional Prometheus server: scrapes every metrics endpoint and evaluates the stack's alert rules. */
export class PrometheusServer extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    public readonly config: string;
    public readonly rules: string;

    constructor(name: string, args: PrometheusServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:PrometheusServer", name, {}, opts);
        this.config = renderPrometheusYml(args.targets);
        this.rules = renderAlertRules(args.alerts);
        const data = new docker.Volume("prometheus-data", {
            name: dockerName(args.stack, "prometheus-data"),
            labels: stackLabels(args.stack, "prometheus"),
        }, { parent: this });
        this.container = new docker.Container("prometheus", {
            ...commonContainerArgs(args.stack, "prometheus", args.resources),
            name: dockerName(args.stack, "prometheus"),
            hostname: "prometheus",
            image: args.image,
            uploads: [
                { file: "/etc/prometheus/prometheus.yml", content: this.config },
                { file: RULES_FILE, content: this.rules },
            ],
            networksAdvanced: stackNetwork(args.networkName, args.address, "prometheus"),
            ports: [{ internal: PROMETHEUS_PORT, external: args.hostPort, ip: args.bindAddress }],
            volumes: [{ volumeName: data.name, containerPath: "/var/lib/prometheus" }],
            healthcheck: healthcheck(`curl -fsS -o /dev/null http://127.0.0.1:${PROMETHEUS_PORT}/-/ready`, "30s"),
            stopTimeout: 30,
        }, { parent: this, deleteBeforeReplace: true });
        this.registerOutputs({ container: this.container.name });
    }
}
