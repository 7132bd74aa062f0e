import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { RoleResources } from "../config";
import { DOCKER_SOCKET, ETCD_CLIENT_PORT, SENTINEL_METRICS_PORT, SENTINEL_RUN, TLS_FILES, TLS_RUN } from "../configs/layout";
import { StackCa } from "./stackCa";
import { commonContainerArgs, dockerName, healthcheck, Placement, secretEnvUpload, stackNetwork } from "./docker";

export interface FailoverSentinelArgs {
    /** Network, host binding and Docker name prefix (the container is `<stack>-sentinel`). */
    placement: Placement;
    /** Sentinel image reference. */
    image: pulumi.Input<string>;
    /** The sentinel's fixed address on the stack network (where etcd is; it needs nothing else). */
    address: string;
    /** etcd members' addresses on the stack network (the DCS the leader key lives in). */
    etcdAddresses: string[];
    /** The cluster's keys in etcd (Patroni's `<namespace><scope>/`): its leader and member keys are under it. */
    clusterPrefix: string;
    /** Every Patroni member: its name and its container's Docker name, whose deaths the sentinel follows. */
    members: { name: string; container: string }[];
    /** Host port its metrics are published on (on adminBindAddress). */
    hostPort: number;
    /** The stack's CA: issues the sentinel's etcd client certificate. */
    ca: StackCa;
    /** Optional container limits (shares the HAProxy role's, as the exporter does). */
    resources: RoleResources;
}

/**
 * The failover sentinel: when a Patroni container of the stack dies and the leader key still names that
 * member, it deletes the key (compare-and-delete on value and revision) so a replica promotes at once
 * instead of after the lease. It reaches the engine's API only through a filter in its own container that
 * passes `GET /events` and `GET /containers/json` (images/sentinel/docker-filter.cfg).
 */
export class FailoverSentinel extends pulumi.ComponentResource {
    public readonly container: docker.Container;

    constructor(name: string, args: FailoverSentinelArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:FailoverSentinel", name, {}, opts);
        const { stack, networkName, adminBindAddress } = args.placement;
        const members = args.members.map(m => `${m.container}=${m.name}`).join(",");
        const common = commonContainerArgs(stack, "sentinel", args.resources);
        const tls = args.ca.containerTls("sentinel", {
            commonName: "sentinel",
            dnsNames: ["sentinel"],
            ipAddresses: [args.address],
            usages: ["client"],
        });
        const envs = [
            `MEMBERS=${members}`,
            `STACK=${stack}`,
            `DCS_CLUSTER_PREFIX=${args.clusterPrefix}`,
            `ETCD_ENDPOINTS=${args.etcdAddresses.map(a => `https://${a}:${ETCD_CLIENT_PORT}`).join(",")}`,
            `DOCKER_API=${SENTINEL_RUN}/docker.sock`,
            `TLS_CA_FILE=${TLS_FILES.ca}`,
            `TLS_CERT_FILE=${TLS_FILES.cert}`,
            `TLS_RUN=${TLS_RUN}`,
        ];
        this.container = new docker.Container(
            `${name}-container`,
            {
                ...common,
                name: dockerName(stack, "sentinel"),
                hostname: "sentinel",
                image: args.image,
                // Its TLS key in the secret file: secret-env exports it for the entrypoint.
                command: ["secret-env", "sentinel-entrypoint"],
                envs,
                uploads: [secretEnvUpload([tls.keyEnv]), ...tls.uploads],
                tmpfs: tls.tmpfs,
                // The container starts as root with two capabilities only, to start the filter as `dockerfilter` in
                // the group of the engine's socket and the sentinel as `sentinel`; neither process keeps one.
                capabilities: { drops: ["ALL"], adds: ["SETUID", "SETGID"] },
                volumes: [{ hostPath: DOCKER_SOCKET, containerPath: DOCKER_SOCKET, readOnly: true }],
                networksAdvanced: stackNetwork(networkName, args.address, "sentinel"),
                ports: [{ internal: SENTINEL_METRICS_PORT, external: args.hostPort, ip: adminBindAddress }],
                healthcheck: healthcheck(
                    `curl -fsS http://127.0.0.1:${SENTINEL_METRICS_PORT}/metrics | grep -q '^patroni_sentinel_docker_connected 1'`,
                    "10s",
                ),
                stopTimeout: 5,
            },
            { parent: this, deleteBeforeReplace: true },
        );
        this.registerOutputs({ container: this.container.name });
    }
}
