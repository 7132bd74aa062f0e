// Shared Docker settings so every container of the stack is named, labelled, logged and limited alike.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { RoleResources } from "../config";

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
        logDriver: "json-file",
        logOpts: { "max-size": "10m", "max-file": "3" },
        labels: stackLabels(stack, role),
        ...(limits.memoryMb !== undefined ? { memory: limits.memoryMb } : {}),
        ...(limits.cpus !== undefined ? { cpus: String(limits.cpus) } : {}),
    };
}

/** A healthcheck that runs `command` in the container. */
export function healthcheck(command: string, startPeriod = "30s"): docker.types.input.ContainerHealthcheck {
    return { tests: ["CMD-SHELL", command], interval: "5s", timeout: "4s", retries: 5, startPeriod };
}

/** Attach to the stack network at a fixed address. */
export function stackNetwork(networkName: pulumi.Input<string>, address: string, alias: string): docker.types.input.ContainerNetworksAdvanced[] {
    return [{ name: networkName, ipv4Address: address, aliases: [alias] }];
}
