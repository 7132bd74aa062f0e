// Chaos on the real engine: each fault is injected while a writer runs through the write port and a
// sampler tries a direct write on every node every 0.2 s. Invariants: in synchronous mode (the default)
// no acknowledged row is lost; in every mode no sampler round finds two writable nodes, a resumed old
// leader never takes the leader key back, and asynchronous mode loses only writes the old leader
// acknowledged. One stack serves every scenario; each heals before the next starts. Bounds are liveness
// timeouts; the numbers are printed as a table (and by `npm run bench -- --chaos`).
import { strict as assert } from "assert";
import { DynamicConfigState } from "../../components/dcsClient";
import { parseConfig } from "../../config";
import { docker, run } from "./harness/docker";
import { clusterView, Deployed, deployStack, destroyStack, query, waitForCluster } from "./harness/stack";
import { plannedDynamicConfig, updateDynamicConfig } from "./harness/update";
import { assertAckedAround, createTable, missingRows, startWriter, waitFor } from "./harness/workload";
import { SAMPLER_TABLE_DDL, startSampler } from "./harness/sampler";
import { directTo, log, stackFile } from "./helpers";

const STACK = "e2e-chaos";
const NODES = ["db1", "db2", "db3"];
const CONFIG: Record<string, unknown> = {
    patroniNodes: 3, etcdNodes: 3, subnet: "10.213.245.0/24",
    ports: { write: 29551, read: 29552, stats: 29553, postgresBase: 29430, apiBase: 29800, etcdBase: 29890, pitr: 29554, metrics: 29187, barmanMetrics: 29780 },
};
/** Longer than the default profile's ttl (20 s): the lease expires while the fault lasts. */
const HOLD_MS = 30_000;

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

export interface ChaosRow {
    scenario: string;
    mode: string;
    outageSeconds: number;
    failures: number;
    acked: number;
    present: number;
    /** Lost rows acknowledged by a server other than the faulted old leader (must be 0 in every mode). */
    lostFromOthers: number;
    /** Direct writes a non-leader accepted while another node did too (sampler rounds with two writable nodes). */
    doubleWritableRounds: number;
}

/** The leader key in etcd: the truth, whatever a frozen or partitioned member's REST API says. */
async function dcsLeader(d: Deployed): Promise<string | undefined> {
    const key = Buffer.from(`/service/${STACK}/leader`).toString("base64");
    for (const endpoint of d.outputs.etcdEndpoints as string[]) {
        try {
            const r = await fetch(`${endpoint}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key }), signal: AbortSignal.timeout(2000) });
            if (!r.ok) { continue; }
            const kvs = ((await r.json()) as { kvs?: { value: string }[] }).kvs;
            return kvs?.length ? Buffer.from(kvs[0].value, "base64").toString() : undefined;
        } catch { /* next member */ }
    }
    return undefined;
}

async function waitDcsLeader(d: Deployed, not: string, timeoutSeconds: number): Promise<string> {
    let found = "";
    await waitFor(`a leader other than ${not} in the DCS`, timeoutSeconds, async () => {
        const l = await dcsLeader(d);
        if (!l || l === not) { return false; }
        found = l;
        return true;
    });
    return found;
}

/** For `seconds`, the leader key must keep naming `expected` (a resumed old leader must not take it back). */
async function assertLeaderHolds(d: Deployed, expected: string, seconds: number): Promise<void> {
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until) {
        const l = await dcsLeader(d);
        assert.ok(l === undefined || l === expected, `the leader key moved from ${expected} to ${l}`);
        await sleep(300);
    }
}

async function containerPid(name: string): Promise<string> {
    return docker(["inspect", "-f", "{{.State.Pid}}", name]);
}

/**
 * Drop all traffic between a container and the given peers (the host and HAProxy still reach it); with
 * on=false, remove exactly those rules (each at most once, so healing twice is harmless).
 */
async function partition(name: string, peers: string[], on: boolean): Promise<void> {
    const pid = await containerPid(name);
    for (const peer of peers) {
        for (const [chain, side] of [["INPUT", "-s"], ["OUTPUT", "-d"]]) {
            const rule = [chain, side, peer, "-j", "DROP"];
            const present = (await run("nsenter", ["-t", pid, "-n", "iptables", "-C", ...rule], { allowFail: true })).code === 0;
            if (on && !present) { await run("nsenter", ["-t", pid, "-n", "iptables", "-I", ...rule]); }
            if (!on && present) { await run("nsenter", ["-t", pid, "-n", "iptables", "-D", ...rule]); }
        }
    }
}

describe("e2e chaos: faults under a writer and a split-brain sampler", function () {
    this.timeout(900_000);
    let d: Deployed;
    let deployedInputs: DynamicConfigState;
    let mode = "on";
    const rows: ChaosRow[] = [];
    const addresses = parseConfig(CONFIG, STACK).spec.addresses;

    before(async () => {
        d = await deployStack(stackFile(STACK, CONFIG), { log });
        deployedInputs = d.engine.inputs.get("dcs-config") as unknown as DynamicConfigState;
        log(`deployed in ${d.timings.healthy.toFixed(1)} s`);
    });
    after(async () => {
        if (rows.length) {
            console.log("      scenario                          mode  outage s  errors  acked/present  lost-not-old-leader  2-writable rounds");
            for (const r of rows) {
                console.log(`      ${r.scenario.padEnd(33)} ${r.mode.padEnd(5)} ${r.outageSeconds.toFixed(1).padStart(8)}  ${String(r.failures).padStart(6)}  ` +
                    `${`${r.acked}/${r.present}`.padStart(13)}  ${String(r.lostFromOthers).padStart(19)}  ${String(r.doubleWritableRounds).padStart(17)}`);
            }
        }
        if (!process.env.E2E_KEEP) { await destroyStack(STACK); }
    });

    /**
     * Run `fault` (which returns when it has healed) under a writer and the sampler, wait for one leader
     * with every replica streaming, and check the invariants. Returns the lost ids.
     */
    async function underFault(scenario: string, fault: (oldLeader: string) => Promise<void>, opts: { faultedLeaderMayLose?: boolean } = {}): Promise<{ lost: number[]; row: ChaosRow }> {
        const table = `chaos_${rows.length}_${mode}`;
        await createTable(d.outputs.writeConnectionString, table);
        await query(d.outputs.superuserConnectionString, SAMPLER_TABLE_DDL(`${table}_probe`));
        await waitFor("the probe table on every node", 30, async () => {
            for (let n = 1; n <= NODES.length; n++) { await query(directTo(d, CONFIG, n), `SELECT 1 FROM ${table}_probe LIMIT 1`); }
            return true;
        });
        const oldLeader = (await dcsLeader(d))!;
        assert.ok(oldLeader, "a leader before the fault");
        const oldAddress = addresses.db[NODES.indexOf(oldLeader)];
        const writer = startWriter(d.outputs.writeConnectionString, table);
        const sampler = startSampler(NODES.map((name, i) => ({ name, connectionString: directTo(d, CONFIG, i + 1) })), `${table}_probe`);
        await sleep(2000);
        const faultAt = Date.now();
        let result, sample;
        try {
            await fault(oldLeader);
            await waitForCluster(d.outputs, 240, log);
            await sleep(2000);
        } finally {
            result = await writer.stop();
            sample = await sampler.stop();
        }
        assertAckedAround(result, faultAt, Date.now() - 2000);
        const lost = await missingRows(d.outputs.writeConnectionString, table, result.acked);
        const lostSet = new Set(lost);
        const lostFromOthers = result.acks.filter(a => lostSet.has(a.id) && a.server !== oldAddress).length;
        const row: ChaosRow = {
            scenario, mode, outageSeconds: result.outageSeconds, failures: result.failures, acked: result.acked.length,
            present: result.acked.length - lost.length, lostFromOthers, doubleWritableRounds: sample.doubleWritable.length,
        };
        rows.push(row);
        log(`${scenario} (${mode}): ${JSON.stringify(row)} sampler ${JSON.stringify(sample.acceptedBy)} of ${sample.rounds} rounds`);
        assert.deepEqual(sample.doubleWritable, [], "two nodes accepted direct writes in the same sampler round");
        assert.equal(lostFromOthers, 0, "a lost row was acknowledged by a node other than the faulted old leader");
        if (mode !== "off" || !opts.faultedLeaderMayLose) { assert.deepEqual(lost, [], `acknowledged rows lost in mode ${mode}`); }
        return { lost, row };
    }

    const freeze = async (oldLeader: string) => {
        const name = `${STACK}-${oldLeader}`;
        const pausedAt = Date.now();
        await docker(["pause", name]);
        try {
            const next = await waitDcsLeader(d, oldLeader, 90);
            await sleep(Math.max(3000, HOLD_MS - (Date.now() - pausedAt)));
            await docker(["unpause", name]);
            await assertLeaderHolds(d, next, 15);
        } finally { await docker(["unpause", name], { allowFail: true }); }
    };

    const cut = async (oldLeader: string) => {
        const name = `${STACK}-${oldLeader}`;
        const peers = [...addresses.etcd, ...addresses.db.filter((_, i) => NODES[i] !== oldLeader)];
        const cutAt = Date.now();
        await partition(name, peers, true);
        try {
            const next = await waitDcsLeader(d, oldLeader, 90);
            await sleep(Math.max(3000, HOLD_MS - (Date.now() - cutAt)));
            await partition(name, peers, false);
            await assertLeaderHolds(d, next, 15);
        } finally { await partition(name, peers, false); }
    };

    const killLeader = async (oldLeader: string) => {
        await docker(["kill", `${STACK}-${oldLeader}`]);
        const next = await waitDcsLeader(d, oldLeader, 90);
        await docker(["start", `${STACK}-${oldLeader}`]);
        await assertLeaderHolds(d, next, 10);
    };

    it("1. leader frozen longer than ttl, then resumed: a replica takes over, the old leader never takes the key back", async () => {
        await underFault("leader frozen 30 s, resumed", freeze);
    });

    it("2. leader partitioned from etcd and its peers, then healed", async () => {
        await underFault("leader partitioned, healed", cut);
    });

    it("3. leader container killed, then started again", async () => {
        await underFault("leader container killed", killLeader);
    });

    it("4. the leader's postmaster killed (kill -9): Patroni restarts it", async () => {
        await underFault("postmaster kill -9", async oldLeader => {
            await docker(["exec", `${STACK}-${oldLeader}`, "sh", "-c", "kill -9 $(head -n 1 /var/lib/postgresql/15/data/postmaster.pid)"]);
            await sleep(5000);
        });
    });

    it("5. etcd quorum lost for 30 s, then restored: failsafe mode keeps the primary", async () => {
        const { row } = await underFault("etcd quorum lost 30 s", async () => {
            await docker(["kill", `${STACK}-etcd2`, `${STACK}-etcd3`]);
            try { await sleep(HOLD_MS); } finally { await docker(["start", `${STACK}-etcd2`, `${STACK}-etcd3`]); }
            await waitFor("etcd healthy again", 60, async () => (await dcsLeader(d)) !== undefined);
        });
        assert.ok(row.outageSeconds < 10, `failsafe mode should keep writes going through a DCS outage (outage ${row.outageSeconds} s)`);
    });

    it("6. one etcd member killed: writes go on", async () => {
        await underFault("one etcd member killed", async () => {
            await docker(["kill", `${STACK}-etcd1`]);
            try { await sleep(10_000); } finally { await docker(["start", `${STACK}-etcd1`]); }
        });
    });

    it("7. the synchronous standby killed under reads: reads and writes go on", async () => {
        const standby = (await clusterView(d.outputs)).find(m => m.role === "sync_standby");
        assert.ok(standby, "a synchronous standby in the default mode");
        let reads = 0, readFailures = 0, readsAfter = 0, running = true;
        let killedAt = Number.MAX_SAFE_INTEGER;
        const reader = (async () => {
            while (running) {
                try {
                    await query(d.outputs.readConnectionString, "SELECT 1");
                    reads++;
                    if (Date.now() > killedAt + 5000) { readsAfter++; }
                } catch { readFailures++; }
                await sleep(50);
            }
        })();
        try {
            await underFault("sync standby killed under reads", async () => {
                killedAt = Date.now();
                await docker(["kill", `${STACK}-${standby.name}`]);
                await sleep(15_000);
                await docker(["start", `${STACK}-${standby.name}`]);
            });
        } finally { running = false; await reader; }
        log(`reads ${reads}, failed ${readFailures}, after the kill ${readsAfter}`);
        assert.ok(readsAfter > 0, `reads must go on after a replica dies (${reads} ok, ${readFailures} failed)`);
    });

    it("8. asynchronous mode (off): freeze, partition and kill lose only the old leader's unreplicated writes, never two writable nodes", async () => {
        const next = { ...CONFIG, patroni: { synchronousMode: "off" } };
        const news = await plannedDynamicConfig(STACK, next, deployedInputs);
        await updateDynamicConfig(deployedInputs, news);
        deployedInputs = news;
        mode = "off";
        await waitFor("no synchronous standby", 60, async () => !(await clusterView(d.outputs)).some(m => m.role === "sync_standby"));
        await underFault("leader frozen 30 s, resumed", freeze, { faultedLeaderMayLose: true });
        const partitioned = await underFault("leader partitioned, healed", cut, { faultedLeaderMayLose: true });
        await underFault("leader container killed", killLeader, { faultedLeaderMayLose: true });
        // The workload can tell the modes apart: a partitioned asynchronous leader acknowledges writes no replica has.
        assert.ok(partitioned.lost.length > 0, "asynchronous mode lost nothing under a partition: the chaos workload cannot tell the modes apart");
    });
});
