import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { EtcdMemberSpec, RoleResources } from "../config";
import { renderEtcdCommand } from "../configs/etcd";
import { ETCD_CLIENT_PORT, ETCD_DATA, ETCD_METRICS_PORT } from "../configs/layout";
import { EtcdMembership } from "./etcdMembership";
import { EtcdRolloutStep } from "./etcdRolloutStep";
import { memberLeaf, StackCa } from "./stackCa";
import {
    bothNetworks,
    childOptions,
    commonContainerArgs,
    containerFingerprint,
    dataVolume,
    dockerName,
    healthcheck,
    Placement,
    secretEnvUpload,
} from "./docker";

export interface EtcdClusterArgs {
    /** Network, host binding and Docker name prefix (`<stack>-etcd<n>`). */
    placement: Placement;
    /** Members with their fixed addresses (and host client ports when published), etcd1 first. */
    members: EtcdMemberSpec[];
    /** The stack's CA: issues each member's certificate (server for clients, server and client for peers). */
    ca: StackCa;
    /** The host address clients dial for a published client port (a certificate name when ports.publishEtcd). */
    adminHost: string;
    /** etcd image reference. */
    image: pulumi.Input<string>;
    /** Optional container limits. */
    resources: RoleResources;
}

/** The DCS: N etcd members, one container and one volume each, clustered by address; the member list cannot change once deployed. */
export class EtcdCluster extends pulumi.ComponentResource {
    /** Client URLs (https) as published on the host, etcd1 first; empty unless ports.publishEtcd. */
    public readonly endpoints: string[];
    /** Containers' Docker names, etcd1 first: `docker exec -i <name> etcd-v3 kv/range` reaches etcd over TLS. */
    public readonly containerNames: string[];
    /** Containers, etcd1 first (Patroni nodes depend on them). */
    public readonly containers: docker.Container[];
    /** Data volumes' Docker names by member name. */
    public readonly dataVolumeNames: Record<string, pulumi.Output<string>> = {};

    constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:EtcdCluster", name, {}, opts);
        const { stack, adminBindAddress } = args.placement;
        const token = `${stack}-etcd`;
        // Refuses a changed member list on a running stack before any member is touched.
        const membership = new EtcdMembership(
            `${name}-membership`,
            { members: args.members.map(m => m.name), peerScheme: "https" },
            { parent: this },
        );
        // Replaced one at a time (etcdRolloutStep): member n's container waits for its step, the step for
        // member n-1's container, and its update for member n-1 to serve again, so a quorum always stays.
        const containers: docker.Container[] = [];
        let previous: { member: string; container: string; fingerprint: pulumi.Output<string> } | undefined;
        for (const member of args.members) {
            const hostAddresses = member.hostClientPort !== undefined ? [args.adminHost] : [];
            const tls = args.ca.containerTls(
                member.name,
                memberLeaf(member.name, dockerName(stack, member.name), member.address, hostAddresses),
            );
            const volume = dataVolume(this, `${name}-${member.name}-data`, `${member.name}-data`, "etcd", args.placement);
            this.dataVolumeNames[member.name] = volume.name;
            const containerArgs: docker.ContainerArgs = {
                ...commonContainerArgs(stack, "etcd", args.resources),
                name: dockerName(stack, member.name),
                hostname: member.name,
                image: args.image,
                user: "etcd",
                command: renderEtcdCommand(member, args.members, token),
                // Its TLS key in the secret file (secret-env, then tls-key moves it to the tmpfs).
                uploads: [secretEnvUpload([tls.keyEnv]), ...tls.uploads],
                tmpfs: tls.tmpfs,
                // On the service network only for Prometheus: the client and peer ports listen on the stack
                // network's address (renderEtcdCommand), so there only the plain metrics port answers.
                networksAdvanced: bothNetworks(args.placement, member.address, member.serviceAddress, member.name),
                ports:
                    member.hostClientPort !== undefined
                        ? [{ internal: ETCD_CLIENT_PORT, external: member.hostClientPort, ip: adminBindAddress }]
                        : [],
                volumes: [{ volumeName: volume.name, containerPath: ETCD_DATA }],
                healthcheck: healthcheck(`curl -fsS http://127.0.0.1:${ETCD_METRICS_PORT}/health | grep -q '"health":"true"'`, "10s"),
                stopTimeout: 30,
                // Quorum forms only when a majority is up, so waiting for health here would deadlock a
                // one-by-one create; the dynamic-config resource waits for the cluster instead.
                wait: false,
            };
            const step = new EtcdRolloutStep(
                `${name}-rollout-${member.name}`,
                { member: member.name, previous },
                { parent: this, dependsOn: containers.slice(-1) },
            );
            containers.push(
                new docker.Container(
                    `${name}-${member.name}`,
                    containerArgs,
                    childOptions(this, member.name, { deleteBeforeReplace: true, dependsOn: [membership, step] }),
                ),
            );
            previous = { member: member.name, container: dockerName(stack, member.name), fingerprint: containerFingerprint(containerArgs) };
        }
        this.containers = containers;
        this.endpoints = args.members.flatMap(m => (m.clientUrl ? [m.clientUrl] : []));
        this.containerNames = args.members.map(m => dockerName(stack, m.name));
        this.registerOutputs({
            endpoints: this.endpoints,
            containerNames: this.containerNames,
            containers: this.containers.map(c => c.name),
            dataVolumes: this.dataVolumeNames,
        });
    }
}
