import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { HaproxySpec, RoleResources } from "../config";
import { HaproxyServer, renderHaproxyCfg } from "../configs/haproxy";
import { HAPROXY_CONFIG, HAPROXY_HEALTH_PORT, HAPROXY_READ_PORT, HAPROXY_STATS_PORT, HAPROXY_WRITE_PORT } from "../configs/layout";
import { childOptions, commonContainerArgs, dockerName, healthcheck, Placement, secretEnvUpload, stackNetwork } from "./docker";
import { ContainerFile } from "./containerFile";
import { ContainerTls } from "./stackCa";

export interface HaproxyGatewayArgs {
    /** Network, host binding and Docker name prefix (the container is `<stack>-haproxy`). */
    placement: Placement;
    /** Every slot a Patroni node may have, by name and fixed address (config addresses.memberSlots). */
    servers: HaproxyServer[];
    /** HAProxy image reference. */
    image: pulumi.Input<string>;
    /** HAProxy's fixed address on the stack network (Barman connects from it). */
    address: string;
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
    /**
     * HAProxy's certificate from the stack CA (the stats page's HTTPS) with the CA, which the health checks
     * verify the nodes' REST API with.
     */
    tls: ContainerTls;
}

/** HAProxy routing writes to the leader and reads over replicas, by Patroni REST health checks. */
export class HaproxyGateway extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** The rendered haproxy.cfg (credentials are read from the environment). */
    public readonly config: string;
    /** haproxy.cfg inside the running container, applied by haproxy-apply-config (checked, then reloaded). */
    public readonly configFile: ContainerFile;

    constructor(name: string, args: HaproxyGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:HaproxyGateway", name, {}, opts);
        this.config = renderHaproxyCfg({
            servers: args.servers,
            maximumLagOnFailover: args.maximumLagOnFailover,
            timings: args.timings,
            sshRoute: args.sshRoute,
        });
        // The stats password and the TLS key in the secret file (secret-env exports them for HAProxy, and for
        // haproxy-apply-config's check of a new file), in no environment `docker inspect` shows.
        const secretEnv = secretEnvUpload(
            pulumi.all([args.statsPassword, args.tls.keyEnv]).apply(([password, key]) => [`STATS_PASSWORD=${password}`, key]),
        );
        const { stack, serviceNetworkName, bindAddress, adminBindAddress } = args.placement;
        this.container = new docker.Container(
            `${name}-container`,
            {
                ...commonContainerArgs(stack, "haproxy", args.resources),
                name: dockerName(stack, "haproxy"),
                hostname: "haproxy",
                image: args.image,
                user: "haproxy",
                command: ["secret-env", "tls-key", "haproxy-start", HAPROXY_CONFIG],
                envs: pulumi.output(args.statsUser).apply(user => [`STATS_USER=${user}`]),
                // haproxy.cfg is written into the running container (configFile below): not an input here.
                uploads: [secretEnv, ...args.tls.uploads],
                tmpfs: args.tls.tmpfs,
                networksAdvanced: stackNetwork(serviceNetworkName, args.address, "haproxy"),
                ports: [
                    { internal: HAPROXY_WRITE_PORT, external: args.ports.write, ip: bindAddress },
                    { internal: HAPROXY_READ_PORT, external: args.ports.read, ip: bindAddress },
                    { internal: HAPROXY_STATS_PORT, external: args.ports.stats, ip: adminBindAddress },
                ],
                healthcheck: healthcheck(`curl -fsS -o /dev/null http://127.0.0.1:${HAPROXY_HEALTH_PORT}/health`, "5s"),
                stopSignal: "SIGTERM",
                stopTimeout: 10,
            },
            childOptions(this, "haproxy", { deleteBeforeReplace: true }),
        );
        // A timing or lag change rewrites the file and reloads HAProxy seamlessly: the container, its
        // listeners and the connections it holds stay. A replaced container gets the file again.
        this.configFile = new ContainerFile(
            `${name}-config`,
            {
                container: this.container.name,
                containerId: this.container.id,
                path: HAPROXY_CONFIG,
                content: this.config,
                command: ["secret-env", "haproxy-apply-config"],
            },
            { parent: this },
        );
        this.registerOutputs({ container: this.container.name, config: this.config });
    }
}
