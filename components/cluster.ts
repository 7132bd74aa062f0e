import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ClusterSpec, restApiClients } from "../config";
import { archiveParameters, barmanSlots } from "../configs/barman";
import { renderDynamicConfig } from "../configs/dcs";
import { DCS_NAMESPACE, dcsKey } from "../configs/layout";
import { restoreDrillMaxAge } from "../configs/prometheus";
import { AlertmanagerServer } from "./alertmanagerServer";
import { BarmanServer } from "./barmanServer";
import { BarmanSsh } from "./barmanSsh";
import { childOptions, dataVolume, dockerName, Placement, stackLabels } from "./docker";
import { EtcdCluster } from "./etcdCluster";
import { FailoverSentinel } from "./failoverSentinel";
import { HaproxyGateway } from "./haproxyGateway";
import { MetricsExporter } from "./metricsExporter";
import { IMAGE_ROLES, ImageRole, StackImages } from "./images";
import { PrometheusServer } from "./prometheusServer";
import { VolumeMetrics } from "./volumeMetrics";
import { PatroniDynamicConfig } from "./patroniDynamicConfig";
import { PatroniNode } from "./patroniNode";
import { PatroniRollout } from "./patroniRollout";
import { PidsLimit } from "./pidsLimit";
import { pidsLimitFor } from "../configs/limits";
import { memberLeaf, StackCa } from "./stackCa";

export interface PatroniClusterArgs {
    /** The validated stack configuration. */
    spec: ClusterSpec;
}

/** Generated passwords: letters and digits only, so they are safe inside URIs and config files. */
function password(component: string, suffix: string, parent: pulumi.Resource): pulumi.Output<string> {
    return pulumi.secret(
        new random.RandomPassword(`${component}-${suffix}`, { length: 32, special: false }, childOptions(parent, suffix)).result,
    );
}

/** The whole stack: network, images, secrets, etcd, the DCS configuration, Patroni nodes, HAProxy and Barman. */
export class PatroniCluster extends pulumi.ComponentResource {
    public readonly spec: ClusterSpec;
    /** The stack network (`<stack>-net`): etcd, the Patroni nodes and the sentinel only. */
    public readonly network: docker.Network;
    /** The service network (`<stack>-services`): HAProxy, Barman, the exporter, Prometheus, ... and the nodes. */
    public readonly serviceNetwork: docker.Network;
    /** The stack's certificate authority: etcd, the nodes and the sentinel hold certificates from it. */
    public readonly ca: StackCa;
    public readonly etcd: EtcdCluster;
    public readonly dynamicConfig: PatroniDynamicConfig;
    public readonly nodes: PatroniNode[];
    /** Replaces node containers one at a time, the leader last after a switchover. */
    public readonly rollout: PatroniRollout;
    public readonly haproxy: HaproxyGateway;
    public readonly barman: BarmanServer;
    public readonly exporter: MetricsExporter;
    /** The optional Prometheus server (patroni-ha:prometheus). */
    public readonly prometheus?: PrometheusServer;
    /** Data volumes' free space for Prometheus (with patroni-ha:prometheus). */
    public readonly volumeMetrics?: VolumeMetrics;
    /** The optional Alertmanager (patroni-ha:alertmanager.webhookUrl, with Prometheus). */
    public readonly alertmanager?: AlertmanagerServer;
    /** The failover sentinel (patroni-ha:sentinel). */
    public readonly sentinel?: FailoverSentinel;
    public readonly secrets: Record<
        "superuser" | "replication" | "rewind" | "api" | "stats" | "app" | "barman" | "streamingBarman" | "monitor",
        pulumi.Output<string>
    >;
    /** Scope = stack name: it is PostgreSQL's cluster_name and the DCS key prefix. */
    public readonly scope: string;

    constructor(name: string, args: PatroniClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:PatroniCluster", name, {}, opts);
        const spec = (this.spec = args.spec);
        const scope = (this.scope = spec.stack);
        // Children are named `<name>-<part>`; the alias (childOptions) is the part alone, as named before.
        const named = (part: string) => `${name}-${part}`;
        const child = (part: string, extra: pulumi.CustomResourceOptions = {}) => childOptions(this, part, extra);

        const pw = (suffix: string) => password(name, suffix, this);
        this.secrets = {
            superuser: pw("superuser-password"),
            replication: pw("replication-password"),
            rewind: pw("rewind-password"),
            api: pw("patroni-api-password"),
            stats: pw("stats-password"),
            app: pw("app-password"),
            barman: pw("barman-password"),
            streamingBarman: pw("streaming-barman-password"),
            monitor: pw("monitor-password"),
        };

        const bridge = (logical: string, part: string, subnet: string, gateway: string, role: string, opts: pulumi.CustomResourceOptions) =>
            new docker.Network(
                named(logical),
                {
                    name: dockerName(spec.stack, part),
                    driver: "bridge",
                    ipamConfigs: [{ subnet, gateway }],
                    labels: stackLabels(spec.stack, role),
                },
                opts,
            );
        this.network = bridge("network", "net", spec.subnet, spec.clusterAddresses.gateway, "network", child("network"));
        // Networks by role: etcd's client and peer ports are on the stack network only, which nothing but
        // etcd, the nodes and the sentinel joins; everything on the clients' side meets the nodes here.
        // Named to sort after `<stack>-net`: the engine forwards a two-network container's published ports
        // to the network first by name.
        this.serviceNetwork = bridge("service-network", "services", spec.serviceSubnet, spec.addresses.gateway, "service-network", {
            parent: this,
        });
        const placement: Placement = {
            stack: spec.stack,
            networkName: this.network.name,
            serviceNetworkName: this.serviceNetwork.name,
            bindAddress: spec.bindAddress,
            adminBindAddress: spec.adminBindAddress,
            retainData: spec.retainData,
        };

        const alerting = spec.prometheus && spec.alertmanager.webhookUrl !== "";
        const wanted: Record<ImageRole, boolean> = {
            etcd: true,
            patroni: true,
            haproxy: true,
            barman: true,
            exporter: true,
            prometheus: spec.prometheus,
            alertmanager: alerting,
            sentinel: spec.sentinel,
            "volume-metrics": spec.prometheus,
        };
        const roles = IMAGE_ROLES.filter(r => wanted[r]);
        const built = new StackImages(named("images"), { stack: spec.stack, baseImage: spec.baseImage, roles }, child("images"));
        const image = (role: ImageRole) => built.refs[role]!;

        this.ca = new StackCa(named("ca"), { stack: spec.stack, validityDays: spec.tls.validityDays }, { parent: this });
        this.etcd = new EtcdCluster(
            named("etcd"),
            { placement, members: spec.etcd, ca: this.ca, adminHost: spec.adminHost, image: image("etcd"), resources: spec.resources.etcd },
            child("etcd"),
        );

        // Streaming mode: the WAL hand-off volume between every node's archive_command and Barman.
        // Rsync mode: per-stack SSH keys instead (see BarmanSsh).
        const mode = spec.barman.mode;
        const walVolume = mode === "streaming" ? dataVolume(this, named("wal"), "wal", "barman", placement).name : undefined;
        const ssh =
            mode === "rsync"
                ? new BarmanSsh(
                      named("barman-ssh"),
                      { stack: spec.stack, barmanAddress: spec.addresses.barman, haproxyAddress: spec.addresses.haproxy },
                      child("barman-ssh"),
                  )
                : undefined;

        const apiUser = "patroni";
        this.dynamicConfig = new PatroniDynamicConfig(
            named("dcs-config"),
            {
                scope,
                namespace: DCS_NAMESPACE,
                etcdContainers: this.etcd.containerNames,
                members: spec.members.map(m => ({ name: m.name, apiUrl: m.apiUrl })),
                caCertificate: this.ca.certPem,
                apiUser,
                apiPassword: this.secrets.api,
                config: renderDynamicConfig({
                    patroni: spec.patroni,
                    hba: {
                        haproxy: spec.addresses.haproxy,
                        members: spec.members.map(m => m.address),
                        superuserAccess: spec.superuserAccess,
                        clientTls: spec.tls.enabled,
                    },
                    ownedParameters: archiveParameters(mode),
                    slots: barmanSlots(mode),
                }),
            },
            child("dcs-config", { dependsOn: this.etcd.containers }),
        );

        const etcdAddresses = spec.etcd.map(e => e.address);
        // Each node's container waits for its step of the rolling replacement, declared once every node is.
        let openGates: (steps: Record<string, pulumi.Resource>) => void = () => undefined;
        const gates = new Promise<Record<string, pulumi.Resource>>(resolve => (openGates = resolve));
        this.nodes = spec.members.map(
            member =>
                new PatroniNode(
                    named(member.name),
                    {
                        placement,
                        member,
                        scope,
                        subnet: spec.subnet,
                        apiClients: restApiClients(spec),
                        etcdAddresses,
                        ca: this.ca,
                        certificateAddresses: [spec.adminHost, spec.publicHost, spec.addresses.haproxy],
                        image: image("patroni"),
                        app: spec.app,
                        resources: spec.resources.patroni,
                        walVolume,
                        ssh: ssh?.node,
                        rolloutGate: gates.then(steps => [steps[member.name]]),
                        secrets: {
                            superuserPassword: this.secrets.superuser,
                            replicationPassword: this.secrets.replication,
                            rewindPassword: this.secrets.rewind,
                            apiUser,
                            apiPassword: this.secrets.api,
                            appPassword: this.secrets.app,
                            barmanPassword: this.secrets.barman,
                            streamingBarmanPassword: this.secrets.streamingBarman,
                            monitorPassword: this.secrets.monitor,
                        },
                    },
                    child(member.name, { dependsOn: [this.dynamicConfig] }),
                ),
        );
        this.rollout = new PatroniRollout(
            named("rollout"),
            {
                nodes: spec.members.map((m, i) => ({
                    name: m.name,
                    apiUrl: m.apiUrl,
                    container: this.nodes[i].container,
                    containerName: this.nodes[i].containerName,
                    fingerprint: this.nodes[i].fingerprint,
                })),
                caCertificate: this.ca.certPem,
                apiUser,
                apiPassword: this.secrets.api,
                rolePasswords: {
                    superuser: this.secrets.superuser,
                    replication: this.secrets.replication,
                    rewind: this.secrets.rewind,
                    app: this.secrets.app,
                    barman: this.secrets.barman,
                    streaming_barman: this.secrets.streamingBarman,
                    monitor: this.secrets.monitor,
                },
                app: spec.app,
            },
            { parent: this },
        );
        openGates(this.rollout.steps);
        const nodeContainers = this.nodes.map(n => n.container);
        const servers = spec.members.map(m => ({ name: m.name, address: m.serviceAddress }));

        this.haproxy = new HaproxyGateway(
            named("haproxy"),
            {
                placement,
                // Every slot, not only today's nodes: scaling leaves HAProxy's configuration (and its clients) alone.
                servers: spec.addresses.memberSlots,
                image: image("haproxy"),
                address: spec.addresses.haproxy,
                ports: spec.ports,
                maximumLagOnFailover: spec.patroni.maximumLagOnFailover,
                timings: spec.haproxy,
                statsUser: "admin",
                statsPassword: this.secrets.stats,
                resources: spec.resources.haproxy,
                sshRoute: mode === "rsync",
                // The stats page's certificate (server only: HAProxy presents none to the nodes).
                tls: this.ca.containerTls("haproxy", {
                    ...memberLeaf("haproxy", dockerName(spec.stack, "haproxy"), spec.addresses.haproxy, [spec.adminHost]),
                    usages: ["server"],
                }),
            },
            // After the nodes' rolling replacement: a change that replaces HAProxy and the nodes together (a
            // new network) then finds every node where the new HAProxy looks for it.
            child("haproxy", { dependsOn: [this.rollout.done] }),
        );

        this.barman = new BarmanServer(
            named("barman"),
            {
                placement,
                image: image("barman"),
                address: spec.addresses.barman,
                haproxyAddress: spec.addresses.haproxy,
                spec: spec.barman,
                resources: spec.resources.barman,
                walVolume,
                ssh: ssh?.barman,
                barmanPassword: this.secrets.barman,
                streamingBarmanPassword: this.secrets.streamingBarman,
                metricsHostPort: spec.ports.barmanMetrics,
                caUpload: this.ca.caUpload,
            },
            child("barman", { dependsOn: nodeContainers }),
        );

        this.exporter = new MetricsExporter(
            named("exporter"),
            {
                placement,
                image: image("exporter"),
                address: spec.addresses.exporter,
                haproxyAddress: spec.addresses.haproxy,
                hostPort: spec.ports.metrics,
                monitorPassword: this.secrets.monitor,
                resources: spec.resources.haproxy,
                caUpload: this.ca.caUpload,
            },
            child("exporter", { dependsOn: nodeContainers }),
        );

        if (spec.prometheus) {
            this.prometheus = new PrometheusServer(
                named("prometheus"),
                {
                    placement,
                    image: image("prometheus"),
                    address: spec.addresses.prometheus,
                    members: servers,
                    targets: {
                        etcd: spec.etcd.map(e => ({ name: e.name, address: e.serviceAddress })),
                        haproxyAddress: spec.addresses.haproxy,
                        exporterAddress: spec.addresses.exporter,
                        barmanAddress: spec.addresses.barman,
                        volumeMetricsAddress: spec.addresses.volumeMetrics,
                        alertmanagerAddress: alerting ? spec.addresses.alertmanager : undefined,
                    },
                    alerts: {
                        maximumLagOnFailover: spec.patroni.maximumLagOnFailover,
                        backupMaxAgeSeconds: spec.barman.backupMaxAgeHours * 3600,
                        restoreDrillMaxAgeSeconds: restoreDrillMaxAge(spec.barman.restoreDrillSchedule),
                    },
                    hostPort: spec.ports.prometheus,
                    resources: spec.resources.barman,
                    caUpload: this.ca.caUpload,
                },
                child("prometheus"),
            );
            this.volumeMetrics = new VolumeMetrics(
                named("volume-metrics"),
                {
                    placement,
                    image: image("volume-metrics"),
                    address: spec.addresses.volumeMetrics,
                    resources: spec.resources.haproxy,
                },
                { parent: this },
            );
        }
        if (alerting) {
            this.alertmanager = new AlertmanagerServer(
                named("alertmanager"),
                {
                    placement,
                    image: image("alertmanager"),
                    address: spec.addresses.alertmanager,
                    webhookUrl: spec.alertmanager.webhookUrl,
                    hostPort: spec.ports.alertmanager,
                    resources: spec.resources.barman,
                },
                child("alertmanager"),
            );
        }

        if (spec.sentinel) {
            this.sentinel = new FailoverSentinel(
                named("sentinel"),
                {
                    placement,
                    image: image("sentinel"),
                    address: spec.clusterAddresses.sentinel,
                    etcdAddresses,
                    clusterPrefix: dcsKey(scope, ""),
                    // Plain names, not the containers' outputs: replacing a node never touches the sentinel; and
                    // every slot, like HAProxy's, so adding or removing a node does not either.
                    members: spec.addresses.memberSlots.map(m => ({ name: m.name, container: dockerName(spec.stack, m.name) })),
                    hostPort: spec.ports.sentinelMetrics,
                    ca: this.ca,
                    resources: spec.resources.haproxy,
                },
                // After the nodes, so that `pulumi destroy` removes it first: it must not fail over a leader
                // that the destroy itself kills. (dependsOn does not make it follow a node's replacement.)
                { parent: this, dependsOn: [...this.etcd.containers, ...nodeContainers] },
            );
        }

        // A pids limit on every container (a fork bomb stops there, not at the host's limit).
        type Limited = [part: string, container: docker.Container, role: ImageRole];
        const part = (name: string, role: ImageRole, c?: { container: docker.Container }): Limited[] =>
            c ? [[name, c.container, role]] : [];
        const limited: Limited[] = [
            ...spec.etcd.map((e, i): Limited => [e.name, this.etcd.containers[i], "etcd"]),
            ...spec.members.map((m, i): Limited => [m.name, this.nodes[i].container, "patroni"]),
            ...part("haproxy", "haproxy", this.haproxy),
            ...part("barman", "barman", this.barman),
            ...part("exporter", "exporter", this.exporter),
            ...part("prometheus", "prometheus", this.prometheus),
            ...part("volume-metrics", "volume-metrics", this.volumeMetrics),
            ...part("alertmanager", "alertmanager", this.alertmanager),
            ...part("sentinel", "sentinel", this.sentinel),
        ];
        for (const [name, container, role] of limited) {
            new PidsLimit(
                named(`pids-${name}`),
                { container: container.name, containerId: container.id, limit: pidsLimitFor(role, spec.patroni.postgresql) },
                { parent: this },
            );
        }

        this.registerOutputs({
            network: this.network.name,
            serviceNetwork: this.serviceNetwork.name,
            etcdEndpoints: this.etcd.endpoints,
            caCertificate: this.ca.certPem,
            nodes: nodeContainers.map(c => c.name),
            rolloutOrder: this.rollout.order,
            haproxy: this.haproxy.container.name,
            barman: this.barman.containerName,
            exporter: this.exporter.container.name,
            prometheus: this.prometheus?.container.name,
            volumeMetrics: this.volumeMetrics?.container.name,
            alertmanager: this.alertmanager?.container.name,
            sentinel: this.sentinel?.container.name,
        });
    }
}
