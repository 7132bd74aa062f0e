// Chaos scenarios on a deployed stack, shared by the chaos e2e suite (which asserts the invariants) and
// `npm run bench -- --chaos` (which prints the table). Each fault runs under a writer through the write
// port and a sampler that tries a direct write on every node every 0.2 s, and heals before it returns.
import { ClusterSpec, SynchronousMode } from "../../config";
import { DynamicConfigState } from "../../components/dcsClient";
import { dcsKey, PG_DATA } from "../../configs/layout";
import { clusterView, Deployed, query, waitForCluster } from "./stack";
import { docker, dockerExec, run } from "./docker";
import { directTo } from "./helpers";
import { plannedDynamicConfig, updateDynamicConfig } from "./update";
import { SAMPLER_TABLE_DDL, SamplerResult, startSampler } from "./sampler";
import { Ack, createTable, missingRows, startWriter, waitFor, WriterResult } from "./workload";

/** Longer than the default profile's ttl (20 s): the lease expires while the fault lasts. */
export const HOLD_MS = 30_000;
/** The chaos stack's backup schedule: frequent, so that the Barman scenario's stop spans a scheduled backup. */
export const CHAOS_BACKUP_SCHEDULE = "*/3 * * * *";
/** How long Barman stays stopped: longer than CHAOS_BACKUP_SCHEDULE's interval. */
export const BARMAN_HOLD_MS = 200_000;

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

export interface ChaosStack {
    d: Deployed;
    /** The stack's config as deployed (for direct connections and DCS changes). */
    config: Record<string, unknown>;
    spec: ClusterSpec;
    /** The DCS configuration inputs in force (updated by setSynchronousMode). */
    dcsInputs: DynamicConfigState;
    mode: SynchronousMode;
    log: (m: string) => void;
}

export interface ChaosRow {
    scenario: string;
    mode: string;
    /** Longest time without an acknowledged write through the write port, seconds. */
    outageSeconds: number;
    failures: number;
    acked: number;
    present: number;
    /** Lost rows acknowledged by a server other than the faulted old leader (must be 0 in every mode). */
    lostFromOthers: number;
    /** Sampler rounds in which two nodes accepted a direct write. */
    doubleWritableRounds: number;
    /**
     * The last such round, in seconds after the fault was lifted (undefined without one). Only a resumed
     * asynchronous old leader may be one of the two, and only until its Patroni's first loop demotes it.
     */
    doubleWritableAfterLift?: number;
    /** Writes acknowledged through the write port by the old leader after another node had acknowledged one (0 in every mode). */
    oldLeaderAckedAfterNew: number;
    /** Times the leader key named the old leader again after another member had taken it. */
    leaderTakenBack: number;
}

export interface ChaosOutcome {
    row: ChaosRow;
    lost: number[];
    writer: WriterResult;
    sampler: SamplerResult;
    /** The member that led when the fault began. */
    oldLeader: string;
    faultAt: number;
    /** When the fault was lifted (unpaused, healed, started again); for faults with nothing to lift, when it returned. */
    liftedAt: number;
    healedAt: number;
}

/**
 * A fault: gets the leader when it starts, returns once healed (the stack then recovers by itself), with
 * the time the fault was lifted when that is earlier than its return.
 */
export type Fault = (c: ChaosStack, oldLeader: string, watch: LeaderWatch) => Promise<number | void>;

const nodeNames = (c: ChaosStack) => c.spec.members.map(m => m.name);
const containerName = (c: ChaosStack, member: string) => `${c.spec.stack}-${member}`;

/** The application role's connection string straight to db<n>'s published PostgreSQL port. */
export function directUrl(c: ChaosStack, n: number): string {
    return directTo(c.d, c.config, n);
}

/**
 * The leader key in etcd: the truth, whatever a frozen or partitioned member's REST API says. Read inside
 * an etcd member (etcd-v3: TLS with its certificate), as the stack's own program reads it.
 */
export async function dcsLeader(c: ChaosStack): Promise<string | undefined> {
    const key = Buffer.from(dcsKey(c.spec.stack, "leader")).toString("base64");
    for (const member of c.spec.etcd) {
        const r = await dockerExec(containerName(c, member.name), ["etcd-v3", "kv/range"], {
            input: JSON.stringify({ key }),
            timeoutMs: 2500,
            allowFail: true,
        }).catch(() => undefined);
        if (r?.code !== 0) {
            continue;
        }
        const kvs = (JSON.parse(r.stdout) as { kvs?: { value: string }[] }).kvs;
        return kvs?.length ? Buffer.from(kvs[0].value, "base64").toString() : undefined;
    }
    return undefined;
}

/** Follows the leader key every 0.3 s for the whole scenario; counts the times an old leader got it back. */
export class LeaderWatch {
    private running = true;
    private readonly holders: string[] = [];
    private readonly loop: Promise<void>;
    constructor(c: ChaosStack) {
        this.loop = (async () => {
            while (this.running) {
                const l = await dcsLeader(c);
                if (l && this.holders[this.holders.length - 1] !== l) {
                    this.holders.push(l);
                }
                await sleep(300);
            }
        })();
    }
    /** The first holder other than `not`, waiting up to `timeoutSeconds`. */
    async next(not: string, timeoutSeconds: number): Promise<string> {
        let found = "";
        await waitFor(`a leader other than ${not} in the DCS`, timeoutSeconds, async () => {
            found = this.holders.find(h => h !== not) ?? "";
            return found !== "";
        });
        return found;
    }
    /** Stops and returns how often a member that had lost the key held it again (A, B, A counts 1). */
    async stop(): Promise<{ holders: string[]; takenBack: number }> {
        this.running = false;
        await this.loop;
        const takenBack = this.holders.filter((h, i) => this.holders.indexOf(h) < i).length;
        return { holders: this.holders, takenBack };
    }
}

/**
 * Drop all traffic between a container and the given peers (the host and HAProxy still reach it); with
 * on=false, remove exactly those rules (each at most once, so healing twice is harmless).
 */
export async function partition(container: string, peers: string[], on: boolean): Promise<void> {
    const pid = await docker(["inspect", "-f", "{{.State.Pid}}", container]);
    for (const peer of peers) {
        for (const [chain, side] of [
            ["INPUT", "-s"],
            ["OUTPUT", "-d"],
        ]) {
            const rule = [chain, side, peer, "-j", "DROP"];
            const present = (await run("nsenter", ["-t", pid, "-n", "iptables", "-C", ...rule], { allowFail: true })).code === 0;
            if (on && !present) {
                await run("nsenter", ["-t", pid, "-n", "iptables", "-I", ...rule]);
            }
            if (!on && present) {
                await run("nsenter", ["-t", pid, "-n", "iptables", "-D", ...rule]);
            }
        }
    }
}

/**
 * Start stopped containers again. A published port can be briefly held by a host connection's ephemeral
 * source port (the published ports lie in Linux's ephemeral range) while the container was down, and
 * Docker then refuses to bind it: retry a few times.
 */
async function startAgain(names: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
        const r = await run("docker", ["start", ...names], { allowFail: true });
        if (r.code === 0) {
            return;
        }
        if (attempt >= 6) {
            throw new Error(`docker start ${names.join(" ")}: ${r.stderr.trim()}`);
        }
        await sleep(2000);
    }
}

/** Leader frozen (docker pause) longer than ttl, then resumed. */
/**
 * `docker pause`, tried again when the cgroup freezer gives up ("unable to freeze": a process stayed in an
 * uninterruptible wait, e.g. an fsync under I/O load, for runc's few polls; runc thaws it again then).
 */
async function pauseContainer(name: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
        try {
            await docker(["pause", name]);
            return;
        } catch (e) {
            if (attempt >= 5 || !/unable to freeze/.test(String(e))) {
                throw e;
            }
            await sleep(500);
        }
    }
}

export const freezeLeader: Fault = async (c, oldLeader, watch) => {
    const name = containerName(c, oldLeader);
    await pauseContainer(name);
    const pausedAt = Date.now();
    try {
        await watch.next(oldLeader, 90);
        await sleep(Math.max(3000, HOLD_MS - (Date.now() - pausedAt)));
    } finally {
        await docker(["unpause", name], { allowFail: true });
    }
    const liftedAt = Date.now();
    await sleep(10_000); // the resumed old leader's chance to take the key back (the watch runs on until the end)
    return liftedAt;
};

/** Leader cut off from etcd and its peers for longer than ttl, then healed. */
export const partitionLeader: Fault = async (c, oldLeader, watch) => {
    const name = containerName(c, oldLeader);
    // Every address of etcd and of the other members, on both networks (HAProxy and the host still reach it).
    const peers = [...c.spec.etcd, ...c.spec.members.filter(m => m.name !== oldLeader)].flatMap(m => [m.address, m.serviceAddress]);
    const cutAt = Date.now();
    await partition(name, peers, true);
    try {
        await watch.next(oldLeader, 90);
        await sleep(Math.max(3000, HOLD_MS - (Date.now() - cutAt)));
    } finally {
        await partition(name, peers, false);
    }
    const liftedAt = Date.now();
    await sleep(10_000);
    return liftedAt;
};

/** Leader container killed, started again once another member leads. */
export const killLeader: Fault = async (c, oldLeader, watch) => {
    await docker(["kill", containerName(c, oldLeader)]);
    await watch.next(oldLeader, 90);
    await startAgain([containerName(c, oldLeader)]);
    const liftedAt = Date.now();
    await sleep(10_000);
    return liftedAt;
};

/** Leader container stopped (docker stop: SIGTERM, Patroni hands the leadership over), then started. */
export const stopLeader: Fault = async (c, oldLeader, watch) => {
    await docker(["stop", containerName(c, oldLeader)]);
    await watch.next(oldLeader, 90);
    await startAgain([containerName(c, oldLeader)]);
    const liftedAt = Date.now();
    await sleep(10_000);
    return liftedAt;
};

/** The leader's postmaster killed with SIGKILL; Patroni restarts it. */
export const killPostmaster: Fault = async (c, oldLeader) => {
    await docker(["exec", containerName(c, oldLeader), "sh", "-c", `kill -9 $(head -n 1 ${PG_DATA}/postmaster.pid)`]);
    await sleep(5000);
};

/** A majority of etcd members killed for HOLD_MS, then started. */
export const loseEtcdQuorum: Fault = async c => {
    const victims = c.spec.etcd
        .slice(-(Math.floor(c.spec.etcd.length / 2) + 1))
        .reverse()
        .map(e => containerName(c, e.name));
    await docker(["kill", ...victims]);
    try {
        await sleep(HOLD_MS);
    } finally {
        await startAgain(victims);
    }
    await waitFor("etcd answering again", 60, async () => (await dcsLeader(c)) !== undefined);
};

/** One etcd member killed for 10 s. */
export const killEtcdMember: Fault = async c => {
    const victim = containerName(c, c.spec.etcd[0].name);
    await docker(["kill", victim]);
    try {
        await sleep(10_000);
    } finally {
        await startAgain([victim]);
    }
};

/** A replica killed for 15 s (the synchronous standby when there is one), then started. */
export const killReplica: Fault = async (c, oldLeader) => {
    const view = await clusterView(c.d.outputs);
    const victim = view.find(m => m.role === "sync_standby" || m.role === "quorum_standby") ?? view.find(m => m.name !== oldLeader);
    if (!victim) {
        throw new Error("no replica to kill");
    }
    await docker(["kill", containerName(c, victim.name)]);
    try {
        await sleep(15_000);
    } finally {
        await startAgain([containerName(c, victim.name)]);
    }
};

/** Barman stopped for BARMAN_HOLD_MS (longer than a backup interval), then started; writes must not notice. */
export const stopBarman: Fault = async c => {
    const barman = c.d.outputs.barmanContainer;
    await docker(["stop", barman]);
    try {
        await sleep(BARMAN_HOLD_MS);
    } finally {
        await startAgain([barman]);
    }
};

let tables = 0;

/** Run one fault under the writer and the sampler, wait until the stack is whole again, and measure. */
export async function underFault(c: ChaosStack, scenario: string, fault: Fault): Promise<ChaosOutcome> {
    const table = `chaos_${++tables}_${c.mode}`;
    await createTable(c.d.outputs.writeConnectionString, table);
    await query(c.d.outputs.writeConnectionString, SAMPLER_TABLE_DDL(`${table}_probe`));
    const nodes = nodeNames(c);
    await waitFor("the probe table on every node", 30, async () => {
        for (let n = 1; n <= nodes.length; n++) {
            await query(directUrl(c, n), `SELECT 1 FROM ${table}_probe LIMIT 1`);
        }
        return true;
    });
    const oldLeader = await dcsLeader(c);
    if (!oldLeader) {
        throw new Error("no leader before the fault");
    }
    // What inet_server_addr() says through HAProxy: the node's service-network address.
    const oldAddress = c.spec.members[nodes.indexOf(oldLeader)].serviceAddress;
    const watch = new LeaderWatch(c);
    const writer = startWriter(c.d.outputs.writeConnectionString, table);
    const sampler = startSampler(
        nodes.map((name, i) => ({ name, connectionString: directUrl(c, i + 1) })),
        `${table}_probe`,
    );
    await sleep(2000);
    const faultAt = Date.now();
    let healedAt = faultAt,
        liftedAt = faultAt,
        w: WriterResult,
        s: SamplerResult,
        leaders: { holders: string[]; takenBack: number };
    try {
        liftedAt = (await fault(c, oldLeader, watch)) ?? Date.now();
        await waitForCluster(c.d.outputs, 240, c.log);
        healedAt = Date.now();
        await sleep(2000);
        await writer.ackedAfter(healedAt).catch(() => undefined); // check() says so if none came
    } finally {
        w = await writer.stop();
        s = await sampler.stop();
        leaders = await watch.stop();
    }
    const lost = await missingRows(c.d.outputs.writeConnectionString, table, w.acked);
    const lostSet = new Set(lost);
    const row: ChaosRow = {
        scenario,
        mode: c.mode,
        outageSeconds: w.outageSeconds,
        failures: w.failures,
        acked: w.acked.length,
        present: w.acked.length - lost.length,
        lostFromOthers: w.acks.filter((a: Ack) => lostSet.has(a.id) && a.server !== oldAddress).length,
        doubleWritableRounds: s.doubleWritable.length,
        doubleWritableAfterLift: s.doubleWritable.length ? Math.max(...s.doubleWritable.map(r => r.at - liftedAt)) / 1000 : undefined,
        oldLeaderAckedAfterNew: ackedAfterHandover(w.acks, oldAddress),
        leaderTakenBack: leaders.takenBack,
    };
    c.log(
        `${scenario} (${c.mode}): ${JSON.stringify(row)}; leader key ${leaders.holders.join(" -> ")}; sampler ${JSON.stringify(s.acceptedBy)} of ${s.rounds} rounds`,
    );
    return { row, lost, writer: w, sampler: s, oldLeader, faultAt, liftedAt, healedAt };
}

/**
 * How long after the fault is lifted a resumed asynchronous old leader may still accept a direct write: a
 * liveness bound on its Patroni's first loop after the freeze (it finds the key taken and demotes).
 */
export const RESUMED_WRITABLE_MS = 10_000;

/**
 * Sampler rounds that break "never two writable nodes". Synchronous modes allow none: a resumed old
 * leader's commits wait for a standby that now follows the new leader. Asynchronous mode has no such
 * guard, and a frozen container cannot run anything that would stop PostgreSQL before the lease expires
 * (Patroni's answer is a watchdog device, which containers cannot have), so there the old leader may be
 * one of the two from the moment it is lifted until RESUMED_WRITABLE_MS later; never through the write
 * port, whose check asks Patroni's lease (oldLeaderAckedAfterNew).
 */
export function splitBrainRounds(o: ChaosOutcome, mode: SynchronousMode): SamplerResult["doubleWritable"] {
    // A round begun up to a connect timeout before the lift can reach the node once it runs again.
    const allowed = (r: SamplerResult["doubleWritable"][number]) =>
        mode === "off" && r.nodes.includes(o.oldLeader) && r.at >= o.liftedAt - 1500 && r.at <= o.liftedAt + RESUMED_WRITABLE_MS;
    return o.sampler.doubleWritable.filter(r => !allowed(r));
}

/** Acknowledgements from `oldAddress` after the first one from any other server: two writable primaries as a client sees them. */
export function ackedAfterHandover(acks: Ack[], oldAddress: string): number {
    const handover = Math.min(...acks.filter(a => a.server !== oldAddress).map(a => a.at));
    return acks.filter(a => a.server === oldAddress && a.at > handover).length;
}

/** Change synchronousMode on the running stack as a second `pulumi up` would, and wait until it holds. */
export async function setSynchronousMode(c: ChaosStack, mode: SynchronousMode): Promise<void> {
    const config = { ...c.config, patroni: { ...((c.config.patroni as object) ?? {}), synchronousMode: mode } };
    const news = await plannedDynamicConfig(c.spec.stack, config, c.dcsInputs);
    await updateDynamicConfig(c.dcsInputs, news);
    c.dcsInputs = news;
    c.config = config;
    c.mode = mode;
    await waitFor(`synchronous mode ${mode}`, 60, async () => {
        const view = await clusterView(c.d.outputs);
        return (mode === "off") === !view.some(m => m.role === "sync_standby" || m.role === "quorum_standby");
    });
}

/** Every scenario, in the order the suite and the bench run them; `faultedLeaderMayLose` marks those where async mode may lose. */
export const SCENARIOS: { name: string; fault: Fault; asyncToo: boolean }[] = [
    { name: "leader frozen 30 s, resumed", fault: freezeLeader, asyncToo: true },
    { name: "leader partitioned 30 s, healed", fault: partitionLeader, asyncToo: true },
    // Asynchronous mode repeats only the two faults that can lose writes or bring an old leader back.
    { name: "leader container killed", fault: killLeader, asyncToo: false },
    { name: "leader container stopped", fault: stopLeader, asyncToo: false },
    { name: "postmaster kill -9", fault: killPostmaster, asyncToo: false },
    { name: "etcd quorum lost 30 s", fault: loseEtcdQuorum, asyncToo: false },
    { name: "one etcd member killed", fault: killEtcdMember, asyncToo: false },
    { name: "sync standby / replica killed", fault: killReplica, asyncToo: false },
    { name: "Barman stopped 200 s (longer than a backup interval)", fault: stopBarman, asyncToo: false },
];

const doubleWritable = (r: ChaosRow) =>
    r.doubleWritableAfterLift === undefined
        ? `${r.doubleWritableRounds}`
        : `${r.doubleWritableRounds} (the last ${r.doubleWritableAfterLift.toFixed(1)} s after the fault was lifted)`;

/** The rows as a Markdown table. */
export function chaosTable(rows: ChaosRow[]): string {
    const lines = [
        "| fault | mode | write outage | write errors | acknowledged / present | lost rows not from the old leader | old leader acknowledged after the new one | rounds with two writable nodes | old leader took the key back |",
        "|---|---|---|---|---|---|---|---|---|",
    ];
    for (const r of rows) {
        lines.push(
            `| ${r.scenario} | ${r.mode} | ${r.outageSeconds.toFixed(1)} s | ${r.failures} | ${r.acked} / ${r.present} | ${r.lostFromOthers} | ${r.oldLeaderAckedAfterNew} | ${doubleWritable(r)} | ${r.leaderTakenBack} |`,
        );
    }
    return lines.join("\n");
}
