// One step of a rolling replacement of the Patroni containers (see PatroniRollout). Pulumi serializes the
// provider into its dynamic-provider process, so like dcsClient it imports only self-contained modules.
import * as pulumi from "@pulumi/pulumi";
import { dockerExecStdout, retry, statusOf, waitAllStreaming } from "./dcsClient";
import { apiRequest, clusterMembers, leaderName, MemberEndpoint, switchoverCandidates } from "../lib/patroniApi";

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
    /**
     * The role passwords the nodes get (as patroni-entrypoint's file names them: superuser, replication,
     * rewind, app, barman, streaming_barman, monitor), the application's role and database, and each node's
     * Docker name: a changed password is set on the leader before the first container switches to it.
     */
    rolePasswords?: Record<string, string>;
    app?: { user: string; database: string };
    containers?: Record<string, string>;
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
 * When the leader is `leaving` (its container is replaced next, or the node is removed from the stack), hand
 * the leadership to the best streaming replica that stays (a planned switchover: one short write pause,
 * nothing acknowledged lost) and wait until the new leader runs. Nothing to do when the leader stays, or
 * when there is nobody to hand over to (one node). The request goes to the candidate's REST API (any
 * member takes it; the candidate runs the new container, with the new API password if that changed).
 * Retried as a whole: in synchronous mode Patroni refuses (412) a candidate that is not the synchronous
 * standby yet, e.g. a replica that came back a moment ago, until it is one.
 */
async function handOverIfLeaving(s: RolloutStepState, leaving: (leader: string) => boolean, why: string, log: Log): Promise<void> {
    const urls = s.members.map(m => m.apiUrl);
    let handedFrom: string | undefined;
    await retry(`switchover ${why}`, s.timeoutSeconds, async () => {
        const leader = await leaderName(urls, 3000, s.caCertificate);
        if (leader === undefined || !leaving(leader)) {
            return; // the leader stays (or an earlier attempt went through)
        }
        // A replica that is "running" but not streaming yet could be promoted without the newest commits. A
        // leader this deploy removes is not among the endpoints: then /cluster's "streaming" state tells.
        const leaderKnown = s.members.some(m => m.name === leader);
        if (leaderKnown) {
            await waitAllStreaming(s.members, s.timeoutSeconds, s.caCertificate);
        }
        const now = await clusterMembers(urls, 3000, s.caCertificate);
        const candidate = switchoverCandidates(now, leader).find(
            m => s.order.includes(m.name) && !leaving(m.name) && (leaderKnown || m.state === "streaming"),
        );
        if (candidate === undefined) {
            if (now.length === 1) {
                log(`${leader} is the only node: there is nobody to hand over to`);
                return;
            }
            throw new Error("no running replica to hand over to yet");
        }
        log(`switching over from ${leader} to ${candidate.name} ${why}`);
        const r = await apiRequest("POST", `${s.members.find(m => m.name === candidate.name)!.apiUrl}/switchover`, {
            body: { leader, candidate: candidate.name },
            auth: [s.apiUser, s.apiPassword],
            timeoutMs: 60000,
            ca: s.caCertificate,
        });
        if (r.status !== 200) {
            throw new Error(`HTTP ${r.status} ${JSON.stringify(r.json)}`);
        }
        handedFrom = leader;
    });
    if (handedFrom === undefined) {
        return;
    }
    await retry(`a leader running after the switchover ${why}`, s.timeoutSeconds, async () => {
        const leader = (await clusterMembers(urls, 3000, s.caCertificate)).find(m => m.role === "leader");
        if (leader === undefined || leader.name === handedFrom || leader.state !== "running") {
            throw new Error(`leader ${leader?.name ?? "none"} (${leader?.state ?? "-"})`);
        }
    });
}

/**
 * What the step does when the fingerprints change: first wait until the node replaced before it is back and
 * streaming (if it was replaced), then, if its own node is about to be replaced and leads, switch over; the
 * step after the last node switches over from a leader the deploy removes. `before` holds the fingerprints
 * of the previous deploy.
 */
export async function runRolloutStep(before: Record<string, string>, s: RolloutStepState, log: Log = () => undefined): Promise<void> {
    const previous = previousInOrder(s.order, s.member);
    if (previous !== undefined && before[previous] !== s.fingerprints[previous]) {
        await waitStreamingAgain(s, previous, log);
    }
    const member = s.member;
    if (member !== undefined && before[member] !== undefined && before[member] !== s.fingerprints[member]) {
        await handOverIfLeaving(s, leader => leader === member, `before replacing ${member}`, log);
    }
    // The step after the last node: a leader on a node this deploy removes (deleted after every update)
    // hands over first, so its removal is a switchover, not a failover.
    if (member === undefined && Object.keys(before).some(n => !(n in s.fingerprints))) {
        await handOverIfLeaving(s, leader => !(leader in s.fingerprints), "away from a node being removed", log);
    }
}

/**
 * Set changed role passwords on the leader before any container switches to them (a password replaced with
 * `pulumi up --replace`): the first replaced replica must stream with the new replication password, Barman
 * and the exporter log in with theirs. The leader's own patroni-sync-passwords does it, with the passwords
 * in a file on its stdin (`docker exec -i`, as for etcd: never in an argv), unlogged, committed locally.
 */
async function setRolePasswords(s: RolloutStepState, log: Log): Promise<void> {
    const file = Object.entries(s.rolePasswords ?? {})
        .map(([k, v]) => `${k}=${v}\n`)
        .join("");
    await retry("setting the new role passwords on the leader", s.timeoutSeconds, async () => {
        const leader = await leaderName(
            s.members.map(m => m.apiUrl),
            3000,
            s.caCertificate,
        );
        const container = leader === undefined ? undefined : s.containers?.[leader];
        if (container === undefined) {
            throw new Error(`no leader among the stack's nodes (${leader ?? "none"})`);
        }
        const app = s.app ? [`APP_USER=${s.app.user}`, `APP_DATABASE=${s.app.database}`] : [];
        await dockerExecStdout(container, ["env", "ROLE_PASSWORDS_FILE=-", ...app, "patroni-sync-passwords"], file, 60000);
        log(`set the role passwords on the leader ${leader}`);
    });
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
    "rolePasswords",
    "app",
    "containers",
];

export const rolloutStepProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: RolloutStepState) {
        // A new stack or node: its member does not run yet, nothing to hand over or wait for. A member that
        // runs already means a stack deployed by a version without these steps, whose containers this deploy
        // may replace: act as if every fingerprint had changed.
        const member = inputs.member;
        if (member !== undefined) {
            const running = await clusterMembers(
                inputs.members.map(m => m.apiUrl),
                2000,
                inputs.caCertificate,
            ).catch(() => []);
            if (running.some(m => m.name === member)) {
                await runRolloutStep(Object.fromEntries(Object.keys(inputs.fingerprints).map(n => [n, "unknown"])), inputs);
            }
        }
        return { id: `rollout-${member ?? "done"}`, outs: inputs };
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
            const first = news.member !== undefined && previousInOrder(news.order, news.member) === undefined;
            if (first && news.rolePasswords && JSON.stringify(olds.rolePasswords) !== JSON.stringify(news.rolePasswords)) {
                await setRolePasswords(news, () => undefined);
            }
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
        super(
            rolloutStepProvider,
            name,
            { timeoutSeconds: 600, ...args },
            { ...opts, additionalSecretOutputs: ["apiPassword", "rolePasswords"] },
        );
    }
}
