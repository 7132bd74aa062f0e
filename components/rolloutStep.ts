// One step of a rolling replacement of the Patroni containers (see PatroniRollout). Pulumi serializes the
// provider into its dynamic-provider process, so like dcsClient it imports only self-contained modules.
import * as pulumi from "@pulumi/pulumi";
import { retry, statusOf, waitAllStreaming } from "./dcsClient";
import { apiRequest, clusterMembers, MemberEndpoint, switchoverCandidates } from "../lib/patroniApi";

export interface RolloutStepState {
    /** The node whose container this step comes before (`db2`); absent in the step after the last node. */
    member?: string;
    /** Every node, in the order their containers are replaced: the leader when the deploy started comes last. */
    order: string[];
    /**
     * Each node's container fingerprint, a digest of all its container's inputs: a changed one means that
     * container is replaced in this deploy.
     */
    fingerprints: Record<string, string>;
    /** Members' REST API URLs reachable from where `pulumi up` runs (https, verified against caCertificate). */
    members: MemberEndpoint[];
    caCertificate: string;
    /** REST API user and password for POST /switchover. */
    apiUser: string;
    apiPassword: string;
    /** Seconds to wait for a node to stream again, or for a switchover to complete. */
    timeoutSeconds: number;
}

type Log = (msg: string) => void;

/** The node replaced just before `member` (for the step after the last node: the last one). */
export function previousInOrder(order: string[], member?: string): string | undefined {
    const i = member === undefined ? order.length : order.indexOf(member);
    return i > 0 ? order[i - 1] : undefined;
}

/** The rollout order: every node in program order, the current leader (when known) moved to the end. */
export function rolloutOrder(names: string[], leader?: string): string[] {
    return leader !== undefined && names.includes(leader) ? [...names.filter(n => n !== leader), leader] : [...names];
}

/** Until `name` runs again after its replacement and every running replica (it too) streams from the leader. */
async function waitStreamingAgain(s: RolloutStepState, name: string, log: Log): Promise<void> {
    const endpoint = s.members.find(m => m.name === name);
    if (!endpoint) {
        return; // a node removed in this deploy
    }
    log(`waiting for ${name} to run and stream again`);
    await retry(`${name} running again after its replacement`, s.timeoutSeconds, async () => {
        const status = await statusOf(endpoint, s.caCertificate);
        if (status.state !== "running") {
            throw new Error(`${name} is ${String(status.state ?? "not answering")}`);
        }
    });
    await waitAllStreaming(s.members, s.timeoutSeconds, s.caCertificate);
}

/**
 * When `name` leads, hand the leadership to the best streaming replica before its container goes (a planned
 * switchover: one short write pause, nothing acknowledged lost) and wait until the new leader runs.
 * Nothing to do for a replica, or when there is nobody to hand over to (one node). Retried as a whole: in
 * synchronous mode Patroni refuses (412) a candidate that is not the synchronous standby yet, e.g. a
 * replica that came back a moment ago, until it is one.
 */
async function handOverIfLeader(s: RolloutStepState, name: string, log: Log): Promise<void> {
    const urls = s.members.map(m => m.apiUrl);
    const leaderUrl = s.members.find(m => m.name === name)!.apiUrl;
    let candidate: string | undefined;
    await retry(`switchover from ${name} before its replacement`, s.timeoutSeconds, async () => {
        const view = await clusterMembers(urls, 3000, s.caCertificate);
        if (view.find(m => m.role === "leader")?.name !== name) {
            return; // a replica (or an earlier attempt went through)
        }
        // A replica that is "running" but not streaming yet could be promoted without the newest commits.
        await waitAllStreaming(s.members, s.timeoutSeconds, s.caCertificate);
        candidate = switchoverCandidates(await clusterMembers(urls, 3000, s.caCertificate), name)[0]?.name;
        if (candidate === undefined) {
            if (view.length === 1) {
                log(`${name} is the only node: its replacement is a write outage`);
                return;
            }
            throw new Error("no running replica to hand over to yet");
        }
        log(`switching over from ${name} to ${candidate} before replacing ${name}`);
        const r = await apiRequest("POST", `${leaderUrl}/switchover`, {
            body: { leader: name, candidate },
            auth: [s.apiUser, s.apiPassword],
            timeoutMs: 60000,
            ca: s.caCertificate,
        });
        if (r.status !== 200) {
            throw new Error(`HTTP ${r.status} ${JSON.stringify(r.json)}`);
        }
    });
    if (candidate === undefined) {
        return;
    }
    await retry(`a leader running after the switchover from ${name}`, s.timeoutSeconds, async () => {
        const leader = (await clusterMembers(urls, 3000, s.caCertificate)).find(m => m.role === "leader");
        if (leader === undefined || leader.name === name || leader.state !== "running") {
            throw new Error(`leader ${leader?.name ?? "none"} (${leader?.state ?? "-"})`);
        }
    });
}

/**
 * What the step does when the fingerprints change: first wait until the node replaced before it is back and
 * streaming (if it was replaced), then, if its own node is about to be replaced and leads, switch over.
 * `before` holds the fingerprints of the previous deploy.
 */
export async function runRolloutStep(before: Record<string, string>, s: RolloutStepState, log: Log = () => undefined): Promise<void> {
    const previous = previousInOrder(s.order, s.member);
    if (previous !== undefined && before[previous] !== s.fingerprints[previous]) {
        await waitStreamingAgain(s, previous, log);
    }
    if (s.member !== undefined && before[s.member] !== undefined && before[s.member] !== s.fingerprints[s.member]) {
        await handOverIfLeader(s, s.member, log);
    }
}

/** Inputs whose change is worth an update; `order` alone (a failover since the last deploy) is not. */
const COMPARED: (keyof RolloutStepState)[] = [
    "member",
    "fingerprints",
    "members",
    "caCertificate",
    "apiUser",
    "apiPassword",
    "timeoutSeconds",
];

export const rolloutStepProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: RolloutStepState) {
        // A new node, or a new stack: nothing runs that could be handed over or waited for.
        return { id: `rollout-${inputs.member ?? "done"}`, outs: inputs };
    },
    async diff(_id: string, olds: RolloutStepState, news: RolloutStepState) {
        const changed = COMPARED.filter(k => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes: changed.length > 0, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, olds: RolloutStepState, news: RolloutStepState) {
        // A new CA (rotation) is the exception: nodes holding the new CA cannot verify those still on the old
        // one, so a replaced node could never stream from an old leader. They are replaced one after another
        // without waiting, as a restart of the cluster (docs/security.md, rotating certificates).
        if (olds.caCertificate === news.caCertificate) {
            await runRolloutStep(olds.fingerprints ?? {}, news);
        }
        return { outs: news };
    },
    async delete() {
        // Nothing outside Pulumi's state.
    },
};

/**
 * A gate in the chain of node containers: its update runs after the previous node's container was replaced
 * and before its own node's container is (the container depends on it).
 */
export class RolloutStep extends pulumi.dynamic.Resource {
    constructor(name: string, args: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
        super(rolloutStepProvider, name, { timeoutSeconds: 600, ...args }, { ...opts, additionalSecretOutputs: ["apiPassword"] });
    }
}
