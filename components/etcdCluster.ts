import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { RoleResources } from "../config";
import { EtcdMember, renderEtcdCommand } from "../configs/etcd";
import { ETCD_CLIENT_PORT, ETCD_DATA } from "../configs/layout";
import { commonContainerArgs, dockerName, healthcheck, stackLabels, stackNetwork } from "./docker";

export interface EtcdClusterArgs {
    /** Stack name; Docker names are `<stack>-etcd<n>`. */
    stack: string;
    /** Members with their fixed addresses on the stack network, etcd1 first. */
    members: EtcdMember[];
    /** etcd image reference. */
    image: pulumi.Input<string>;
    /** Name of the stack's Docker network. */
    networkName: pulumi.Input<string>;
    /** Host address the client ports are published on. */
    bindAddress: string;
    /** Address clients on the host use for published ports (bindAddress, or loopback for a wildcard). */
    publicHost: string;
    /** etcd<n> client port is published on etcdBase + n. */
    etcdBase: number;
    /** Optional container limits. */
    resources: RoleResources;
}

/** The DCS: N etcd members, one container and one volume each, clustered by address. */
export class EtcdCluster extends pulumi.ComponentResource {
    /** Client URLs as published on the host, etcd1 first. */
    public readonly endpoints: string[];
    /** Containers, etcd1 first (Patroni nodes depend on them). */
    public readonly containers: docker.Container[];

    constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:EtcdCluster", name, {}, opts);
        const token = `${args.stack}-etcd`;
        this.containers = args.members.map((member, i) => {
            const volume = new docker.Volume(`${member.name}-data`, {
                name: dockerName(args.stack, `${member.name}-data`),
                labels: stackLabels(args.stack, "etcd"),
            }, { parent: this });
            return new docker.Container(member.name, {
                ...commonContainerArgs(args.stack, "etcd", args.resources),
                name: dockerName(args.stack, member.name),
                hostname: member.name,
                image: args.image,
                user: "etcd",
                command: renderEtcdCommand(member, args.members, token),
                networksAdvanced: stackNetwork(args.networkName, member.address, member.name),
                ports: [{ internal: ETCD_CLIENT_PORT, external: args.etcdBase + i + 1, ip: args.bindAddress }],
                volumes: [{ volumeName: volume.name, containerPath: ETCD_DATA }],
                healthcheck: healthcheck(`curl -fsS http://127.0.0.1:${ETCD_CLIENT_PORT}/health | grep -q '"health":"true"'`, "10s"),
                stopTimeout: 30,
                // Quorum forms only when a majority is up, so waiting for health here would deadlock a
                // one-by-one create; the dynamic-config resource waits for the cluster instead.
                wait: false,
            }, { parent: this, deleteBeforeReplace: true });
        });
        this.endpoints = args.members.map((_, i) => `http://${args.publicHost}:${args.etcdBase + i + 1}`);
        this.registerOutputs({ endpoints: this.endpoints });
    }
}
