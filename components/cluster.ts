import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ClusterSpec } from "../config";
import { canonicalJson } from "../configs/yaml";
import { archiveParameters, barmanSlots } from "../configs/barman";
import { renderDynamicConfig } from "../configs/dcs";
import { DCS_NAMESPACE } from "../configs/layout";
import { BarmanServer } from "./barmanServer";
import { BarmanSsh } from "./barmanSsh";
import { dockerName, stackLabels } from "./docker";
import { EtcdCluster } from "./etcdCluster";
import { HaproxyGateway } from "./haproxyGateway";
import { MetricsExporter } from "./metricsExporter";
import { IMAGE_ROLES, ImageRole, StackImages } from "./images";
import { PrometheusServer } from "./prometheusServer";
import { PatroniDynamicConfig } from "./patroniDynamicConfig";
import { PatroniNode } from "./patroniNode";

export interface PatroniClusterArgs {
    /** The validated stack configuration. */
    spec: ClusterSpec;
}

/** Generated passwords: letters and digits only, so they are safe inside URIs and config files. */
function password(name: string, parent: pulumi.Resource): pulumi.Output<string> {
    return pulumi.secret(new random.RandomPassword(name, { length: 32, special: false }, { parent }).result);
}

/** The whole stack: network, images, secrets, etcd, the DCS configuration, Patroni nodes, HAProxy and Barman. */
export class PatroniCluster extends pulumi.ComponentResource {
    public readonly spec: ClusterSpec;
    public readonly network: docker.Network;
    public readonly etcd: EtcdCluster;
    public readonly dynamicConfig: PatroniDynamicConfig;
    public readonly nodes: PatroniNode[];
    public readonly haproxy: HaproxyGateway;
    public readonly barman: BarmanServer;
    public readonly exporter: MetricsExporter;
    /** The optional Prometheus server (patroni-ha:prometheus). */
    public readonly prometheus?: PrometheusServer;
    public readonly secrets: Record<"superuser" | "replication" | "rewind" | "api" | "stats" | "app" | "barman" | "streamingBarman" | "monitor", pulumi.Output<string>>;
    /** Scope = stack name: it is PostgreSQL's cluster_name and the DCS key prefix. */
    public readonly scope: string;

    constructor(name: string, args: PatroniClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:PatroniCluster", name, {}, opts);
        const spec = this.spec = args.spec;
        const scope = this.scope = spec.stack;
        const child = { parent: this };

        this.secrets = {
            superuser: password("superuser-password", this),
            replication: password("replication-password", this),
            rewind: password("rewind-password", this),
            api: password("patroni-api-password", this),
            stats: password("stats-password", this),
            app: password("app-password", this),
            barman: password("barman-password", this),
            streamingBarman: password("streaming-barman-password", this),
            monitor: password("monitor-password", this),
        };

        this.network = new docker.Network("network", {
            name: dockerName(spec.stack, "net"),
            driver: "bridge",
            ipamConfigs: [{ subnet: spec.subnet, gateway: spec.addresses.gateway }],
            labels: stackLabels(spec.stack, "network"),
        }, child);

        const roles = IMAGE_ROLES.filter(r => r !== "prometheus" || spec.prometheus);
        const built = new StackImages("images", { stack: spec.stack, baseImage: spec.baseImage, roles }, child);
        const image = (role: ImageRole) => built.refs[role]!;

        const etcdMembers = spec.addresses.etcd.map((address, i) => ({ name: `etcd${i + 1}`, address }));
        this.etcd = new EtcdCluster("etcd", {
            stack: spec.stack, members: etcdMembers, image: image("etcd"), networkName: this.network.name,
            bindAddress: spec.bindAddress, publicHost: spec.publicHost, etcdBase: spec.ports.etcdBase, resources: spec.resources.etcd,
        }, child);

        // Streaming mode: the WAL hand-off volume between every node's archive_command and Barman.
        // Rsync mode: per-stack SSH keys instead (see BarmanSsh).
        const mode = spec.barman.mode;
        const walVolume = mode === "streaming"
            ? new docker.Volume("wal", { name: dockerName(spec.stack, "wal"), labels: stackLabels(spec.stack, "barman") }, child).name
            : undefined;
        const ssh = mode === "rsync"
            ? new BarmanSsh("barman-ssh", { stack: spec.stack, barmanAddress: spec.addresses.barman, haproxyAddress: spec.addresses.haproxy }, child)
            : undefined;

        const members = spec.addresses.db.map((address, i) => ({ name: `db${i + 1}`, address }));
        this.dynamicConfig = new PatroniDynamicConfig("dcs-config", {
            scope,
            namespace: DCS_NAMESPACE,
            etcdEndpoints: this.etcd.endpoints,
            members: members.map((m, i) => ({ name: m.name, apiUrl: `http://${spec.publicHost}:${spec.ports.apiBase + i + 1}` })),
            apiUser: "patroni",
            apiPassword: this.secrets.api,
            config: canonicalJson(renderDynamicConfig({ patroni: spec.patroni, subnet: spec.subnet, ownedParameters: archiveParameters(mode), slots: barmanSlots(mode) })),
        }, { parent: this, dependsOn: this.etcd.containers });

        this.nodes = members.map((m, i) => new PatroniNode(m.name, {
            stack: spec.stack, scope, name: m.name, address: m.address, subnet: spec.subnet, etcdAddresses: spec.addresses.etcd,
            image: image("patroni"), networkName: this.network.name, bindAddress: spec.bindAddress,
            hostPostgresPort: spec.ports.postgresBase + i + 1, hostApiPort: spec.ports.apiBase + i + 1,
            app: spec.app, resources: spec.resources.patroni, walVolume, ssh: ssh?.node,
            secrets: {
                superuserPassword: this.secrets.superuser, replicationPassword: this.secrets.replication,
                rewindPassword: this.secrets.rewind, apiUser: "patroni", apiPassword: this.secrets.api,
                appPassword: this.secrets.app, barmanPassword: this.secrets.barman, streamingBarmanPassword: this.secrets.streamingBarman,
                monitorPassword: this.secrets.monitor,
            },
        }, { parent: this, dependsOn: [this.dynamicConfig] }));

        this.haproxy = new HaproxyGateway("haproxy", {
            stack: spec.stack, servers: members, image: image("haproxy"), networkName: this.network.name,
            address: spec.addresses.haproxy, bindAddress: spec.bindAddress, ports: spec.ports,
            maximumLagOnFailover: spec.patroni.maximumLagOnFailover, timings: spec.haproxy,
            statsUser: "admin", statsPassword: this.secrets.stats, resources: spec.resources.haproxy, sshRoute: mode === "rsync",
        }, child);

        this.barman = new BarmanServer("barman", {
            stack: spec.stack, image: image("barman"), networkName: this.network.name, address: spec.addresses.barman,
            haproxyAddress: spec.addresses.haproxy, spec: spec.barman, resources: spec.resources.barman, walVolume, ssh: ssh?.barman,
            barmanPassword: this.secrets.barman, streamingBarmanPassword: this.secrets.streamingBarman,
            bindAddress: spec.bindAddress, metricsHostPort: spec.ports.barmanMetrics,
        }, { parent: this, dependsOn: this.nodes.map(n => n.container) });

        this.exporter = new MetricsExporter("exporter", {
            stack: spec.stack, image: image("exporter"), networkName: this.network.name, address: spec.addresses.exporter,
            haproxyAddress: spec.addresses.haproxy, bindAddress: spec.bindAddress, hostPort: spec.ports.metrics,
            monitorPassword: this.secrets.monitor, resources: spec.resources.haproxy,
        }, { parent: this, dependsOn: this.nodes.map(n => n.container) });

        if (spec.prometheus) {
            this.prometheus = new PrometheusServer("prometheus", {
                stack: spec.stack, image: image("prometheus"), networkName: this.network.name, address: spec.addresses.prometheus,
                targets: { members, haproxyAddress: spec.addresses.haproxy, exporterAddress: spec.addresses.exporter, barmanAddress: spec.addresses.barman },
                alerts: { maximumLagOnFailover: spec.patroni.maximumLagOnFailover, backupMaxAgeSeconds: spec.barman.backupMaxAgeHours * 3600 },
                bindAddress: spec.bindAddress, hostPort: spec.ports.prometheus, resources: spec.resources.barman,
            }, child);
        }

        this.registerOutputs({});
    }
}

