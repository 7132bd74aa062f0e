// Shared Docker settings so every container of the stack is named, labelled, logged and limited alike.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { RoleResources } from "../config";
import { SECRET_ENV } from "../configs/layout";
import { canonicalJson } from "../configs/yaml";

/**
 * Where a component's containers run; the same for every component of a cluster, so passed as one
 * argument instead of repeated fields.
 */
export interface Placement {
    /** The cluster's identity (the stack name): prefix of Docker object names, value of the `patroni-ha.stack` label. */
    stack: string;
    /** Name of the stack network (`<stack>-net`): etcd, the Patroni nodes and the sentinel, nothing else. */
    networkName: pulumi.Input<string>;
    /** Name of the service network (`<stack>-services`): every other container, and the nodes' second address. */
    serviceNetworkName: pulumi.Input<string>;
    /** Host address the write and read ports bind to (config `bindAddress`). */
    bindAddress: string;
    /** Host address every other published port binds to (config `adminBindAddress`). */
    adminBindAddress: string;
    /** Data volumes survive `pulumi destroy` and replacement (retainOnDelete): config `retainData`. */
    retainData: boolean;
}

/**
 * Options for a child resource whose logical name starts with its component's name (so two clusters in
 * one program never clash). `formerName` is the name it had before names carried the component's name:
 * the alias keeps a stack deployed by an earlier version as it is, so upgrading replaces nothing.
 */
export function childOptions(
    parent: pulumi.Resource,
    formerName: string,
    extra: pulumi.CustomResourceOptions = {},
): pulumi.CustomResourceOptions {
    return { ...extra, parent, aliases: [{ name: formerName }] };
}

/**
 * A data volume named `<stack>-<part>` (also its former logical name), labelled with its role, and kept by
 * Docker when Pulumi deletes it unless the stack says otherwise (retainData).
 */
export function dataVolume(parent: pulumi.Resource, logicalName: string, part: string, role: string, placement: Placement): docker.Volume {
    return new docker.Volume(
        logicalName,
        { name: dockerName(placement.stack, part), labels: stackLabels(placement.stack, role) },
        childOptions(parent, part, { retainOnDelete: placement.retainData }),
    );
}

/** Docker object name: `<stack>-<role><n>`, so two stacks never collide and `docker ps` reads like the architecture. */
export function dockerName(stack: string, role: string): string {
    return `${stack}-${role}`;
}

/** Labels on every Docker object of a stack: what it is and which stack owns it. */
export function stackLabels(stack: string, role: string): docker.types.input.ContainerLabel[] {
    return [
        { label: "patroni-ha.stack", value: stack },
        { label: "patroni-ha.role", value: role },
    ];
}

/** Settings shared by every container: restart policy, an init as PID 1, bounded json-file logs, limits. */
export function commonContainerArgs(stack: string, role: string, limits: RoleResources): Partial<docker.ContainerArgs> {
    return {
        restart: "unless-stopped",
        init: true,
        // Every image runs as an unprivileged user: no Linux capability is needed, and no setuid binary in
        // the image (su, passwd, ssh-keysign) may gain one.
        capabilities: { drops: ["ALL"] },
        securityOpts: ["no-new-privileges:true"],
        logDriver: "json-file",
        logOpts: { "max-size": "10m", "max-file": "3" },
        labels: stackLabels(stack, role),
        ...(limits.memoryMb !== undefined ? { memory: limits.memoryMb } : {}),
        ...(limits.cpus !== undefined ? { cpus: String(limits.cpus) } : {}),
    };
}

/**
 * A container's secrets as its secret file (SECRET_ENV): NAME=value lines, secret in the state, uploaded into a
 * directory only the container's user may enter and exported by `secret-env` (images/common/secret-env.sh), so
 * they are in no environment `docker inspect` shows.
 */
export function secretEnvUpload(lines: pulumi.Input<pulumi.Input<string>[]>): docker.types.input.ContainerUpload {
    return { file: SECRET_ENV, content: pulumi.secret(pulumi.output(lines).apply(l => l.join("\n") + "\n")) };
}

/** A healthcheck that runs `command` in the container. */
export function healthcheck(command: string, startPeriod = "30s"): docker.types.input.ContainerHealthcheck {
    return { tests: ["CMD-SHELL", command], interval: "5s", timeout: "4s", retries: 5, startPeriod };
}

/** Attach to one network (the stack or the service network) at a fixed address. */
export function stackNetwork(
    networkName: pulumi.Input<string>,
    address: string,
    alias: string,
): docker.types.input.ContainerNetworksAdvanced[] {
    return [{ name: networkName, ipv4Address: address, aliases: [alias] }];
}

/**
 * Attach to both networks at the same offset: the stack network first (etcd, the members), the service network
 * second (HAProxy, Barman, Prometheus). For the nodes and the etcd members.
 */
export function bothNetworks(
    placement: Placement,
    address: string,
    serviceAddress: string,
    alias: string,
): docker.types.input.ContainerNetworksAdvanced[] {
    return [...stackNetwork(placement.networkName, address, alias), ...stackNetwork(placement.serviceNetworkName, serviceAddress, alias)];
}

/**
 * A digest of every input of a container (SHA-256 over its canonical JSON): it changes exactly when the
 * container's inputs do, i.e. when Pulumi replaces it, so a rollout step knows which containers go. Not
 * secret: the passwords and keys in the inputs are random, far out of reach of a search through digests.
 */
export function containerFingerprint(args: docker.ContainerArgs): pulumi.Output<string> {
    return pulumi.unsecret(pulumi.output(args).apply(a => createHash("sha256").update(canonicalJson(a)).digest("hex")));
}
