import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { HaproxySpec, RoleResources } from "../config";
import { HaproxyServer, renderHaproxyCfg } from "../configs/haproxy";
import { HAPROXY_CONFIG, HAPROXY_HEALTH_PORT, HAPROXY_READ_PORT, HAPROXY_STATS_PORT, HAPROXY_WRITE_PORT } from "../configs/layout";
import { commonContainerArgs, dockerName, healthcheck, stackNetwork } from "./docker";

export interface HaproxyGatewayArgs {
    /** Stack name; the container is `<stack>-haproxy`. */
    stack: string;
    /** Every Patroni node, by name and fixed address. */
    servers: HaproxyServer[];
    /** HAProxy image reference. */
    image: pulumi.Input<string>;
    /** Name of the stack's Docker network. */
    networkName: pulumi.Input<string>;
    /** HAProxy's fixed address on the stack network (Barman connects from it). */
    address: string;
    /** Host address the ports are published on. */
    bindAddress: string;
    /** Host ports for the write, read and stats listeners. */
    ports: { write: number; read: number; stats: number };
    /** Bytes of lag after which a replica leaves the read pool. */
    maximumLagOnFailover: number;
    /** Health-check timings. */
    timings: HaproxySpec;
    /** Stats page user. */
    statsUser: pulumi.Input<string>;
    /** Stats page password (secret). */
    statsPassword: pulumi.Input<string>;
    /** Optional container limits. */
    resources: RoleResources;
    /** barman.mode "rsync": route SSH to the leader for Barman's rsync backups (internal only). */
    sshRoute?: boolean;
}

/** HAProxy routing writes to the leader and reads over replicas, by Patroni REST health checks. */
export class HaproxyGateway extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** The rendered haproxy.cfg (credentials are read from the environment). */
    public readonly config: string;

    constructor(name: string, args: HaproxyGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:HaproxyGateway", name, {}, opts);
        this.config = renderHaproxyCfg({ servers: args.servers, maximumLagOnFailover: args.maximumLagOnFailover, timings: args.timings, sshRoute: args.sshRoute });
        const envs = pulumi.secret(pulumi.all([args.statsUser, args.statsPassword])
            .apply(([user, password]) => [`STATS_USER=${user}`, `STATS_PASSWORD=${password}`]));
        this.container = new docker.Container("haproxy", {
            ...commonContainerArgs(args.stack, "haproxy", args.resources),
            name: dockerName(args.stack, "haproxy"),
            hostname: "haproxy",
            image: args.image,
            user: "haproxy",
            command: ["haproxy", "-W", "-db", "-f", HAPROXY_CONFIG],
            envs,
            uploads: [{ file: HAPROXY_CONFIG, content: this.config }],
            networksAdvanced: stackNetwork(args.networkName, args.address, "haproxy"),
            ports: [
                { internal: HAPROXY_WRITE_PORT, external: args.ports.write, ip: args.bindAddress },
                { internal: HAPROXY_READ_PORT, external: args.ports.read, ip: args.bindAddress },
                { internal: HAPROXY_STATS_PORT, external: args.ports.stats, ip: args.bindAddress },
            ],
            healthcheck: healthcheck(`curl -fsS -o /dev/null http://127.0.0.1:${HAPROXY_HEALTH_PORT}/health`, "5s"),
            stopSignal: "SIGTERM",
            stopTimeout: 10,
        }, { parent: this, deleteBeforeReplace: true });
        this.registerOutputs({ container: this.container.name });
    }
}
