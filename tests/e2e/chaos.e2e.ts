// Chaos on the real engine (scenarios in tests/support/chaos.ts): each fault is injected while a writer
// runs through the write port and a sampler tries a direct write on every node every 0.2 s. Invariants:
// in synchronous mode (the default) no acknowledged row is lost and no sampler round finds two writable
// nodes; in every mode the write port never takes an acknowledgement from the old leader after the new
// one's, a resumed old leader never takes the leader key back, and asynchronous mode loses only writes
// the old leader acknowledged (and only a resumed old leader may accept a direct write next to the new
// one, until its Patroni's first loop: see splitBrainRounds). One stack serves every scenario; each heals before the next.
// Bounds are liveness timeouts; the numbers are printed as a table (`npm run bench -- --chaos` too).
import { strict as assert } from "assert";
import { parseConfig } from "../../config";
import {
    CHAOS_BACKUP_SCHEDULE,
    ChaosOutcome,
    dcsLeader,
    killLeader,
    ChaosRow,
    ChaosStack,
    chaosTable,
    partition,
    SCENARIOS,
    setSynchronousMode,
    splitBrainRounds,
    stopBarman,
    underFault,
} from "../support/chaos";
import { archiveGaps, listBackups } from "../../ops/barman";
import { docker, run } from "../support/docker";
import { clusterView, deployedDcsInputs, deployStack, destroyStack, query, waitForCluster } from "../support/stack";
import { assertAckedAround, waitBarmanCheck, waitFor } from "../support/workload";
import { haproxyStatus, log, stackFile } from "../support/helpers";
import { E2E_STACKS } from "../support/e2eStacks";
import { crashLeaderContainer, sentinelContainer, sentinelCounters, sentinelLog, waitSentinelConnected } from "../support/sentinel";
import { switchover } from "../../ops/switchover";

const STACK = E2E_STACKS.chaos.stack;
const CONFIG: Record<string, unknown> = {
    patroniNodes: 3,
    etcdNodes: 3,
    subnet: E2E_STACKS.chaos.subnet,
    serviceSubnet: E2E_STACKS.chaos.serviceSubnet,
    // Limits on the etcd members (generous, so they change no timing): README says resources.* reach the containers.
    resources: { etcd: { memoryMb: 512, cpus: 1.5 } },
    // Frequent scheduled backups: they run under the faults, and Barman's outage spans one (caught up after).
    barman: { backupSchedule: CHAOS_BACKUP_SCHEDULE },
    ports: E2E_STACKS.chaos.ports,
};

describe("e2e chaos: faults under a writer and a split-brain sampler", function () {
    this.timeout(E2E_STACKS.chaos.timeoutMs);
    let c: ChaosStack;
    const rows: ChaosRow[] = [];

    before(async () => {
        const d = await deployStack(stackFile(STACK, CONFIG), { log });
        const spec = parseConfig(CONFIG, STACK).spec;
        c = { d, config: CONFIG, spec, dcsInputs: deployedDcsInputs(d), mode: spec.patroni.synchronousMode, log };
        assert.equal(c.mode, "on", "synchronous replication is the default");
    });
    after(async () => {
        if (rows.length) {
            console.log(
                chaosTable(rows)
                    .split("\n")
                    .map(l => `      ${l}`)
                    .join("\n"),
            );
        }
        if (!process.env.E2E_KEEP) {
            await destroyStack(STACK);
        }
    });

    it("0. resources.* reach the containers as limits", async () => {
        for (let n = 1; n <= 3; n++) {
            const limits = await docker(["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", `${STACK}-etcd${n}`]);
            assert.equal(limits, `${512 * 1024 * 1024} ${1.5e9}`, `etcd${n}`);
        }
        assert.equal(await docker(["inspect", "-f", "{{.HostConfig.Memory}}", `${STACK}-db1`]), "0", "no limit where none is configured");
    });

    /** The invariants of every mode; in synchronous mode also: nothing acknowledged is lost. */
    function check(o: ChaosOutcome): void {
        rows.push(o.row);
        assertAckedAround(o.writer, o.faultAt, o.healedAt);
        assert.deepEqual(splitBrainRounds(o, c.mode), [], "two nodes accepted direct writes in the same sampler round");
        assert.equal(o.row.oldLeaderAckedAfterNew, 0, "through the write port, the old leader acknowledged after the new one had");
        assert.equal(o.row.leaderTakenBack, 0, "an old leader took the leader key back");
        assert.equal(o.row.lostFromOthers, 0, "a lost row was acknowledged by a node other than the faulted old leader");
        if (c.mode !== "off") {
            assert.deepEqual(o.lost, [], `acknowledged rows lost in synchronous mode ${c.mode}`);
        }
    }

    for (const [i, s] of SCENARIOS.entries()) {
        it(`${i + 1}. ${s.name} (synchronous mode on)`, async () => {
            let reads = 0,
                readsAfter = 0,
                running = true,
                faultAt = Number.MAX_SAFE_INTEGER;
            // Reads through the read port run through every scenario; they must go on after a replica dies.
            const reader = (async () => {
                while (running) {
                    try {
                        await query(c.d.outputs.readConnectionString, "SELECT 1");
                        reads++;
                        if (Date.now() > faultAt + 5000) {
                            readsAfter++;
                        }
                    } catch {
                        /* counted by absence */
                    }
                    await new Promise(r => setTimeout(r, 100));
                }
            })();
            let o: ChaosOutcome;
            const sentinelBefore = await sentinelCounters(c.d);
            try {
                faultAt = Date.now() + 2000;
                o = await underFault(c, s.name, s.fault);
            } finally {
                running = false;
                await reader;
            }
            check(o);
            // The sentinel (on with the default profile) acts on the leader's death alone: not on a pause, a
            // partition, a graceful stop (the key is released already), a postmaster crash, etcd or a replica.
            const sentinelAfter = await sentinelCounters(c.d);
            assert.equal(
                sentinelAfter.released - sentinelBefore.released,
                s.fault === killLeader ? 1 : 0,
                `leader keys the sentinel released during "${s.name}"`,
            );
            if (s.name.startsWith("etcd quorum")) {
                assert.ok(
                    o.row.outageSeconds < 10,
                    `failsafe mode keeps writes going through a DCS outage (outage ${o.row.outageSeconds} s)`,
                );
            }
            assert.ok(readsAfter > 0, `reads through the read port must go on (${reads} in all, none after the fault)`);
            if (s.fault === stopBarman) {
                await barmanCaughtUp(o);
            }
        });
    }

    /** Barman's loop log (its stderr). */
    const barmanLog = async (container: string) => (await run("docker", ["logs", container])).stderr;

    /**
     * After Barman was down over a scheduled backup: writes went on, the backup it missed is taken once it
     * is back (a slot inside the outage, logged as such), and the WAL written meanwhile is archived with no gap.
     */
    async function barmanCaughtUp(o: ChaosOutcome): Promise<void> {
        const barman = c.d.outputs.barmanContainer;
        assert.ok(o.row.outageSeconds < 10, `writes do not wait for Barman in synchronous mode on (outage ${o.row.outageSeconds} s)`);
        const restartedAt = Date.parse(await docker(["inspect", "-f", "{{.State.StartedAt}}", barman]));
        const slots = async () =>
            [...(await barmanLog(barman)).matchAll(/scheduled base backup for (\d{4}-\d\d-\d\d \d\d:\d\d) UTC/g)].map(m =>
                Date.parse(`${m[1].replace(" ", "T")}:00Z`),
            );
        const inOutage = (t: number) => t >= o.faultAt - 1000 && t <= restartedAt;
        await waitFor("the backup missed during the outage to be taken", 300, async () => (await slots()).some(inOutage));
        const missed = (await slots()).find(inOutage)!;
        const ids = async () => (await listBackups(barman)).filter(b => b.status === "DONE").map(b => b.id);
        // Barman names a backup by its start time in UTC: YYYYMMDDTHHMMSS.
        const since = new Date(restartedAt).toISOString().replace(/[-:]/g, "").slice(0, 15);
        await waitFor("a finished backup begun after Barman's restart", 300, async () => (await ids()).some(id => id >= since));
        await waitBarmanCheck(barman, 300).catch(async e => {
            // Duplicates that clean-errors kept: say which pages differ, so the failure can be understood.
            const why = await docker(["exec", barman, "barman-ha", "explain-errors", "cluster"]).catch(x => String(x));
            throw new Error(`${e.message}\n${why}`);
        });
        assert.deepEqual((await archiveGaps(barman)).sinceOldestBackup, [], "WAL written while Barman was down is archived, no gap");
        c.log(`Barman: caught up the ${new Date(missed).toISOString()} backup after its restart`);
    }

    it(`${SCENARIOS.length + 1}. a replica cut off from the leader falls behind maximumLagOnFailover and leaves the read pool`, async () => {
        const view = await clusterView(c.d.outputs);
        const leaderName = view.find(m => m.role === "leader")!.name;
        const lagging = view.find(m => m.role === "replica");
        assert.ok(lagging, "a replica that is not the synchronous standby");
        const container = `${STACK}-${lagging.name}`;
        const member = (name: string) => c.spec.members.find(m => m.name === name)!;
        // Replication runs on the stack network; the read port reaches a replica at its service address.
        const leaderAddress = member(leaderName).address;
        const laggingAddress = member(lagging.name).serviceAddress;
        await partition(container, [leaderAddress], true);
        try {
            await query(c.d.outputs.writeConnectionString, "CREATE TABLE IF NOT EXISTS lagfill (id bigint, pad text)");
            // About 5 MiB of WAL, well over maximumLagOnFailover (1 MiB).
            await query(
                c.d.outputs.writeConnectionString,
                "INSERT INTO lagfill SELECT g, repeat('x', 1000) FROM generate_series(1, 5000) g",
            );
            const n = Number(lagging.name.slice(2));
            await waitFor(
                `${lagging.name} out of HAProxy's read pool`,
                90,
                async () => (await haproxyStatus(c.d.outputs, "replicas"))[n - 1] === "DOWN",
            );
            for (let i = 0; i < 12; i++) {
                const [r] = await query<{ a: string }>(c.d.outputs.readConnectionString, "SELECT host(inet_server_addr()) AS a");
                assert.notEqual(r.a, laggingAddress, `read ${i} reached the lagging replica ${lagging.name}`);
            }
        } finally {
            await partition(container, [leaderAddress], false);
        }
        const n = Number(lagging.name.slice(2));
        await waitFor(
            `${lagging.name} back in the read pool`,
            90,
            async () => (await haproxyStatus(c.d.outputs, "replicas"))[n - 1] === "UP",
        );
    });

    it(`${SCENARIOS.length + 2}. strict mode with no standby at all: writes block and the read port falls back to the leader`, async () => {
        await setSynchronousMode(c, "strict");
        const replicas = (await clusterView(c.d.outputs)).filter(m => m.role !== "leader").map(m => `${STACK}-${m.name}`);
        assert.equal(replicas.length, 2);
        const barman = c.d.outputs.barmanContainer;
        await query(c.d.outputs.writeConnectionString, "CREATE TABLE IF NOT EXISTS strictprobe (id bigint PRIMARY KEY)");
        // Barman first: with no replica Patroni names any standby ('*'), and Barman's WAL stream would qualify
        // (it confirms only at segment ends, so commits would crawl rather than block; README says so).
        await docker(["stop", barman]);
        try {
            await docker(["kill", ...replicas]);
            try {
                await waitFor(
                    "the read port falling back to the leader",
                    30,
                    async () =>
                        (await query<{ r: boolean }>(c.d.outputs.readConnectionString, "SELECT pg_is_in_recovery() AS r"))[0].r === false,
                );
                const blocked = await query(c.d.outputs.writeConnectionString, "INSERT INTO strictprobe VALUES (1)").then(
                    () => "acknowledged",
                    (e: Error) => e.message,
                );
                assert.notEqual(blocked, "acknowledged", "strict mode acknowledged a commit with no standby at all");
            } finally {
                await docker(["start", ...replicas]);
            }
        } finally {
            await docker(["start", barman]);
        }
        await waitForCluster(c.d.outputs, 240, log);
        await waitFor("writes acknowledged again", 60, async () => {
            await query(c.d.outputs.writeConnectionString, "INSERT INTO strictprobe VALUES (2)");
            return true;
        });
        await setSynchronousMode(c, "on");
    });

    it(`${SCENARIOS.length + 3}. asynchronous mode: only the old leader's unreplicated writes can be lost, never two writable nodes through the write port`, async () => {
        await setSynchronousMode(c, "off");
        let partitionLost = 0;
        for (const s of SCENARIOS.filter(x => x.asyncToo)) {
            const o = await underFault(c, s.name, s.fault);
            check(o);
            if (s.name.startsWith("leader partitioned")) {
                partitionLost = o.lost.length;
            }
        }
        // The workload can tell the modes apart: a partitioned asynchronous leader acknowledges writes no replica has.
        assert.ok(partitionLost > 0, "asynchronous mode lost nothing under a partition: the chaos workload cannot tell the modes apart");
        await setSynchronousMode(c, "on");
        assert.ok((await clusterView(c.d.outputs)).some(m => m.role === "sync_standby"));
    });

    // The failover sentinel (docs/failover.md "Failover sentinel"): five kills under the writer, then what it must leave alone.
    const sentinelOutages: number[] = [];
    it(`${SCENARIOS.length + 4}. failover sentinel: the leader's container killed 5 times, each key released at once, nothing acknowledged lost`, async () => {
        for (let i = 1; i <= 5; i++) {
            const before = await sentinelCounters(c.d);
            const since = Date.now();
            const o = await underFault(c, `leader container killed, sentinel on (#${i})`, killLeader);
            check(o);
            sentinelOutages.push(o.row.outageSeconds);
            const after = await sentinelCounters(c.d);
            assert.equal(after.released - before.released, 1, `kill #${i}: the sentinel released the key`);
            const line = (await sentinelLog(STACK, since)).find(l => l.includes("released the leader key of member"));
            assert.match(
                line ?? "",
                new RegExp(`member ${o.oldLeader} \\(revision \\d+\\) [\\d.]+ s after its container ${STACK}-${o.oldLeader} died`),
            );
        }
        const sorted = [...sentinelOutages].sort((a, b) => a - b);
        log(
            `kill-leader write outage with the sentinel: median ${sorted[2].toFixed(2)} s, worst ${sorted[4].toFixed(2)} s (${sentinelOutages.map(x => x.toFixed(2)).join(", ")})`,
        );
    });

    it(`${SCENARIOS.length + 5}. failover sentinel: a switchover is no death, it does nothing`, async () => {
        const before = await sentinelCounters(c.d);
        const r = await switchover(c.d.outputs);
        log(`switchover ${r.from} -> ${r.to}`);
        await waitForCluster(c.d.outputs, 120, log);
        const after = await sentinelCounters(c.d);
        assert.deepEqual([after.deaths, after.released], [before.deaths, before.released]);
    });

    it(`${SCENARIOS.length + 6}. the leader's Patroni crashes and the engine restarts its container: no two primaries, it rejoins`, async () => {
        await waitForCluster(c.d.outputs, 240, log);
        const before = await sentinelCounters(c.d);
        const o = await underFault(c, "leader's Patroni killed, container restarted", crashLeaderContainer);
        check(o);
        const after = await sentinelCounters(c.d);
        assert.equal(after.deaths - before.deaths, 1, "the sentinel saw the death");
        const view = await clusterView(c.d.outputs);
        const back = view.find(m => m.name === o.oldLeader);
        assert.ok(back && back.state !== "stopped", `${o.oldLeader} is back in the cluster`);
        assert.equal(view.filter(m => m.role === "leader").length, 1, "one leader");
        if (after.released > before.released) {
            // The key went to the synchronous standby; the restarted old leader rejoined as a replica.
            assert.notEqual(back.role, "leader", `${o.oldLeader} came back as a replica`);
        }
        log(
            `crash restart: the sentinel ${after.released > before.released ? "released the key before the restart" : `left the key to the restarted Patroni (${JSON.stringify(after.skipped)})`}; leader now ${await dcsLeader(c)}`,
        );
    });

    it(`${SCENARIOS.length + 7}. the sentinel killed: a dead leader is still replaced, on the lease path; started again, it acts on nothing old`, async () => {
        await waitForCluster(c.d.outputs, 240, log);
        const sentinel = sentinelContainer(STACK);
        await docker(["kill", sentinel]);
        let o: ChaosOutcome;
        try {
            o = await underFault(c, "leader container killed, sentinel down (lease path)", killLeader);
            assert.equal(await docker(["inspect", "-f", "{{.State.Running}}", sentinel]), "false", "the sentinel stayed down");
        } finally {
            await docker(["start", sentinel]);
        }
        check(o);
        const startedAt = Date.now();
        await waitSentinelConnected(c.d);
        await new Promise(r => setTimeout(r, 2000));
        const counters = await sentinelCounters(c.d);
        assert.equal(counters.released, 0, "nothing to release after its restart: the leader runs");
        assert.deepEqual(
            (await sentinelLog(STACK, startedAt)).filter(l => /released|died/.test(l)),
            [],
            "the restarted sentinel acted on an old death",
        );
        log(
            `kill-leader write outage without the sentinel: ${o.row.outageSeconds.toFixed(2)} s; with it (median of 5): ${[...sentinelOutages].sort((a, b) => a - b)[2]?.toFixed(2)} s`,
        );
    });

    it(`${SCENARIOS.length + 8}. the sentinel reaches the engine only through its read-only filter, and runs with no capability`, async () => {
        const sentinel = sentinelContainer(STACK);
        const call = async (method: string, urlPath: string, socket = "/run/sentinel/docker.sock") =>
            (
                await run(
                    "docker",
                    [
                        "exec",
                        "-u",
                        "sentinel",
                        sentinel,
                        "curl",
                        "-s",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}",
                        "-X",
                        method,
                        "--unix-socket",
                        socket,
                        `http://engine${urlPath}`,
                    ],
                    { allowFail: true },
                )
            ).stdout;
        assert.equal(await call("GET", "/v1.41/containers/json"), "200", "listing containers");
        assert.equal(
            await call("GET", `/v1.41/containers/${STACK}-db1/json`),
            "403",
            "inspect shows a container's environment (its passwords)",
        );
        assert.equal(await call("POST", `/v1.41/containers/${STACK}-db1/stop`), "403", "stopping a container");
        assert.equal(await call("POST", "/v1.41/containers/create"), "403", "creating a container");
        assert.equal(await call("GET", "/v1.41/containers/json", "/var/run/docker.sock"), "000", "the engine's socket itself");
        // Both long-running processes: the filter (in the socket's group) and the sentinel (not), neither root, no capability.
        const processes = await docker([
            "exec",
            sentinel,
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); case \"$c\" in 'python3 /usr/local/bin/patroni-sentinel'*|'haproxy '*) echo \"== $c\"; grep -E '^(Uid|Gid|CapEff|CapPrm|NoNewPrivs)' $p/status;; esac; done",
        ]);
        const socketGroup = await docker(["exec", sentinel, "stat", "-c", "%g", "/var/run/docker.sock"]);
        const blocks = processes.split("== ").filter(Boolean);
        assert.equal(blocks.length, 2, processes);
        for (const block of blocks) {
            const name = block.split("\n")[0];
            assert.match(block, /^Uid:\s+(\d+)\s+\1\s+\1\s+\1$/m, name);
            assert.doesNotMatch(block, /^Uid:\s+0\s/m, `${name} runs as root`);
            assert.match(block, /^CapPrm:\s+0+$/m, name);
            assert.match(block, /^CapEff:\s+0+$/m, name);
            assert.match(block, /^NoNewPrivs:\s+1$/m, name);
            const gid = /^Gid:\s+(\d+)/m.exec(block)![1];
            if (name.startsWith("python3")) {
                assert.notEqual(gid, socketGroup, "the sentinel is not in the engine socket's group");
            } else {
                assert.equal(gid, socketGroup, "the filter is in the engine socket's group");
            }
        }
    });
});
