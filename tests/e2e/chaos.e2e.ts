// Chaos on the real engine (scenarios in harness/chaos.ts): each fault is injected while a writer runs
// through the write port and a sampler tries a direct write on every node every 0.2 s. Invariants: in
// synchronous mode (the default) no acknowledged row is lost; in every mode no sampler round finds two
// writable nodes, a resumed old leader never takes the leader key back, and asynchronous mode loses
// only writes the old leader acknowledged. One stack serves every scenario; each heals before the next.
// Bounds are liveness timeouts; the numbers are printed as a table (`npm run bench -- --chaos` too).
import { strict as assert } from "assert";
import { parseConfig } from "../../config";
import { DynamicConfigState } from "../../components/dcsClient";
import { ChaosOutcome, ChaosRow, ChaosStack, chaosTable, SCENARIOS, setSynchronousMode, underFault } from "./harness/chaos";
import { clusterView, deployStack, destroyStack, query } from "./harness/stack";
import { assertAckedAround } from "./harness/workload";
import { log, stackFile } from "./helpers";

const STACK = "e2e-chaos";
const CONFIG: Record<string, unknown> = {
    patroniNodes: 3, etcdNodes: 3, subnet: "10.213.245.0/24",
    ports: { write: 29551, read: 29552, stats: 29553, postgresBase: 29430, apiBase: 29800, etcdBase: 29890, pitr: 29554, metrics: 29187, barmanMetrics: 29780 },
};

describe("e2e chaos: faults under a writer and a split-brain sampler", function () {
    this.timeout(900_000);
    let c: ChaosStack;
    const rows: ChaosRow[] = [];

    before(async () => {
        const d = await deployStack(stackFile(STACK, CONFIG), { log });
        const spec = parseConfig(CONFIG, STACK).spec;
        c = { d, config: CONFIG, spec, dcsInputs: d.engine.inputs.get("dcs-config") as unknown as DynamicConfigState, mode: spec.patroni.synchronousMode, log };
        assert.equal(c.mode, "on", "synchronous replication is the default");
    });
    after(async () => {
        if (rows.length) { console.log(chaosTable(rows).split("\n").map(l => `      ${l}`).join("\n")); }
        if (!process.env.E2E_KEEP) { await destroyStack(STACK); }
    });

    /** The invariants of every mode; in synchronous mode also: nothing acknowledged is lost. */
    function check(o: ChaosOutcome): void {
        rows.push(o.row);
        assertAckedAround(o.writer, o.faultAt, o.healedAt);
        assert.deepEqual(o.sampler.doubleWritable, [], "two nodes accepted direct writes in the same sampler round");
        assert.equal(o.row.leaderTakenBack, 0, "an old leader took the leader key back");
        assert.equal(o.row.lostFromOthers, 0, "a lost row was acknowledged by a node other than the faulted old leader");
        if (c.mode !== "off") { assert.deepEqual(o.lost, [], `acknowledged rows lost in synchronous mode ${c.mode}`); }
    }

    for (const [i, s] of SCENARIOS.entries()) {
        it(`${i + 1}. ${s.name} (synchronous mode on)`, async () => {
            let reads = 0, readsAfter = 0, running = true, faultAt = Number.MAX_SAFE_INTEGER;
            // Reads through the read port run through every scenario; they must go on after a replica dies.
            const reader = (async () => {
                while (running) {
                    try { await query(c.d.outputs.readConnectionString, "SELECT 1"); reads++; if (Date.now() > faultAt + 5000) { readsAfter++; } } catch { /* counted by absence */ }
                    await new Promise(r => setTimeout(r, 100));
                }
            })();
            let o: ChaosOutcome;
            try {
                faultAt = Date.now() + 2000;
                o = await underFault(c, s.name, s.fault);
            } finally { running = false; await reader; }
            check(o);
            if (s.name.startsWith("etcd quorum")) {
                assert.ok(o.row.outageSeconds < 10, `failsafe mode keeps writes going through a DCS outage (outage ${o.row.outageSeconds} s)`);
            }
            assert.ok(readsAfter > 0, `reads through the read port must go on (${reads} in all, none after the fault)`);
        });
    }

    it(`${SCENARIOS.length + 1}. asynchronous mode: only the old leader's unreplicated writes can be lost, never two writable nodes`, async () => {
        await setSynchronousMode(c, "off");
        let partitionLost = 0;
        for (const s of SCENARIOS.filter(x => x.asyncToo)) {
            const o = await underFault(c, s.name, s.fault);
            check(o);
            if (s.name.startsWith("leader partitioned")) { partitionLost = o.lost.length; }
        }
        // The workload can tell the modes apart: a partitioned asynchronous leader acknowledges writes no replica has.
        assert.ok(partitionLost > 0, "asynchronous mode lost nothing under a partition: the chaos workload cannot tell the modes apart");
        await setSynchronousMode(c, "on");
        assert.ok((await clusterView(c.d.outputs)).some(m => m.role === "sync_standby"));
    });
});
