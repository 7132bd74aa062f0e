// Scenario 11: `pulumi destroy` keeps the data volumes (retainData, the default), and the same stack
// deployed again starts on them: new generated passwords, old roles and data, the cluster whole again.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import { check, dockerExec } from "../../ops/barman";
import { PG_HOME, WAL_SHARE } from "../../configs/layout";
import { docker } from "../support/docker";
import { containerIds, leader, log, reportRollingOutage, stackFile, streamingReplicas } from "../support/helpers";
import { switchover } from "../../ops/switchover";
import { Deployed, deployStack, destroyStack, query, ROOT } from "../support/stack";
import { assertAckedAround, createTable, missingRows, startWriter, waitBarmanCheck, waitFor } from "../support/workload";
import { E2E_STACKS } from "../support/e2eStacks";

const STACK = E2E_STACKS.keep.stack;
const CONFIG = {
    profile: "fast",
    patroniNodes: 2,
    etcdNodes: 1,
    subnet: E2E_STACKS.keep.subnet,
    serviceSubnet: E2E_STACKS.keep.serviceSubnet,
    ports: E2E_STACKS.keep.ports,
};

describe("e2e: data kept across destroy", function () {
    this.timeout(E2E_STACKS.keep.timeoutMs);
    let first: Deployed, second: Deployed, third: Deployed;
    const APP_CHANGED = { ...CONFIG, app: { database: "shop", user: "shopper" } };
    after(async () => {
        if (!process.env.E2E_KEEP) {
            await destroyStack(STACK);
        }
    });

    it("11. destroy keeps the volumes; deployed again on them, the data is there and every role logs in with the new passwords", async () => {
        first = await deployStack(stackFile(STACK, CONFIG), { log });
        await query(first.outputs.writeConnectionString, "CREATE TABLE kept (n int PRIMARY KEY)");
        await query(first.outputs.writeConnectionString, "INSERT INTO kept SELECT generate_series(1, 100)");

        // What `pulumi destroy` does with retainData: containers and network go, the volumes stay.
        await destroyStack(STACK, { keepVolumes: true });
        assert.equal(await docker(["ps", "-aq", "--filter", `label=patroni-ha.stack=${STACK}`]), "", "no container left");
        const volumes = (await docker(["volume", "ls", "-q", "--filter", `label=patroni-ha.stack=${STACK}`]))
            .split("\n")
            .filter(Boolean)
            .sort();
        assert.deepEqual(volumes, [
            `${STACK}-barman-backups`,
            `${STACK}-barman-home`,
            `${STACK}-db1-data`,
            `${STACK}-db2-data`,
            `${STACK}-etcd1-data`,
            `${STACK}-wal`,
        ]);

        const started = Date.now();
        second = await deployStack(stackFile(STACK, CONFIG), { log, keepVolumes: true });
        log(`deployed again on the kept volumes, healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        assert.notEqual(second.outputs.superuserPassword, first.outputs.superuserPassword, "a new stack generates new passwords");
        // The application role (through the write and the read port), the superuser, and replication
        // (deployStack waits for a streaming synchronous standby) all use the new passwords.
        const [rows] = await query<{ n: string }>(second.outputs.writeConnectionString, "SELECT count(*) AS n FROM kept");
        assert.equal(Number(rows.n), 100, "the rows written before destroy");
        await query(second.outputs.writeConnectionString, "INSERT INTO kept VALUES (101)");
        await waitFor("the new row on a replica through the read port", 60, async () => {
            const [r] = await query<{ n: string }>(second.outputs.readConnectionString, "SELECT count(*) AS n FROM kept");
            return Number(r.n) === 101;
        });
        // The exporter's monitor role too.
        await waitFor("the exporter connected (pg_up 1)", 120, async () =>
            /^pg_up 1$/m.test(await (await fetch(second.outputs.metricsUrls.postgres)).text()),
        );
        // Patroni's own CLI, as an operator types it: every member, one leader.
        const ctl = spawnSync("npm", ["run", "--silent", "patronictl", "--", "list", "--format", "json"], {
            encoding: "utf8",
            cwd: ROOT,
            env: { ...process.env, STACK },
        });
        assert.equal(ctl.status, 0, ctl.stderr);
        const listed = JSON.parse(ctl.stdout) as { Member: string; Role: string }[];
        assert.deepEqual(listed.map(m => m.Member).sort(), ["db1", "db2"]);
        assert.equal(listed.filter(m => m.Role === "Leader").length, 1, ctl.stdout);
        // Barman (its catalogue and backups kept) logs in with its new passwords and archives again.
        await waitFor("barman check passing on the kept catalogue", 240, async () => (await check(second.outputs.barmanContainer)).ok);
    });

    it("11c. an `app` change rolls through the running cluster (`pulumi up`): the replica's container first, then a switchover, then the old leader's; writes go on, no acknowledged row lost; the new role and database work, the old ones keep their data", async () => {
        // post-bootstrap ran once, at initdb; the leader's callback (patroni-sync-passwords) creates what is missing.
        const changed = APP_CHANGED;
        const nodeIds = () => containerIds(STACK, ["db1", "db2"]);
        const idsBefore = await nodeIds();
        const leaderBefore = (await leader(second.outputs)).name;
        const replicaBefore = leaderBefore === "db1" ? "db2" : "db1";
        await createTable(second.outputs.writeConnectionString, "rolling");
        const writer = startWriter(second.outputs.writeConnectionString, "rolling");
        await new Promise(r => setTimeout(r, 1000));
        const changeAt = Date.now();
        third = await deployStack(stackFile(STACK, changed), { log, update: true });
        const doneAt = Date.now();
        await writer.ackedAfter(doneAt).catch(() => undefined);
        const result = await writer.stop();
        assertAckedAround(result, changeAt, doneAt);
        assert.deepEqual(await missingRows(second.outputs.writeConnectionString, "rolling", result.acked), []);
        // One at a time, the replica first; every step of the chain ran; nothing but the nodes replaced.
        const replaced = third.engine.actions.filter(a => a.type === "docker:index/container:Container" && a.action !== "same");
        assert.deepEqual(
            replaced.map(a => `${a.name} ${a.action}`),
            [`cluster-${replicaBefore} replace`, `cluster-${leaderBefore} replace`],
        );
        const steps = third.engine.actions.filter(a => /^cluster-rollout-/.test(a.name)).map(a => `${a.name} ${a.action}`);
        assert.deepEqual(steps.sort(), ["cluster-rollout-db1 update", "cluster-rollout-db2 update", "cluster-rollout-done update"]);
        const idsAfter = await nodeIds();
        for (const n of ["db1", "db2"]) {
            assert.notEqual(idsAfter[n], idsBefore[n], `${n}'s container replaced`);
        }
        assert.equal((await leader(third.outputs)).name, replicaBefore, "handed over before the old leader's container went");
        reportRollingOutage("2 nodes, synchronous", result, (doneAt - changeAt) / 1000);
        const url = new URL(third.outputs.writeConnectionString);
        assert.equal(url.username, "shopper");
        assert.equal(url.pathname, "/shop");
        await waitFor("the new role logs in to its new database through the write port", 60, async () =>
            query(third.outputs.writeConnectionString, "SELECT 1").then(
                () => true,
                () => false,
            ),
        );
        const [who] = await query<{ u: string; d: string }>(
            third.outputs.writeConnectionString,
            "SELECT current_user AS u, current_database() AS d",
        );
        assert.deepEqual(who, { u: "shopper", d: "shop" });
        await query(third.outputs.writeConnectionString, "CREATE TABLE orders (n int PRIMARY KEY)");
        await query(third.outputs.writeConnectionString, "INSERT INTO orders VALUES (1)");
        await waitFor("the new role reads its row on a replica through the read port", 60, async () =>
            query<{ n: string }>(third.outputs.readConnectionString, "SELECT count(*) AS n FROM orders").then(
                ([r]) => Number(r.n) === 1,
                () => false,
            ),
        );
        // Nothing of the former application is dropped: its database and rows are there (read as the superuser).
        const former = new URL(third.outputs.superuserConnectionString);
        former.pathname = "/app";
        const [rows] = await query<{ n: string }>(former.toString(), "SELECT count(*) AS n FROM kept");
        assert.equal(Number(rows.n), 101);
        const [owner] = await query<{ o: string }>(
            former.toString(),
            "SELECT pg_get_userbyid(datdba) AS o FROM pg_database WHERE datname = 'shop'",
        );
        assert.equal(owner.o, "shopper");
    });

    it("11g. every generated role password and the REST API's replaced (`pulumi up --replace`): set on the leader before the nodes roll; replication, Barman, the exporter, the connection strings and a switchover work with the new ones; the old superuser password no longer does", async () => {
        const rotated = ["superuser", "replication", "rewind", "app", "barman", "streaming-barman", "monitor", "patroni-api"].map(
            p => `cluster-${p}-password`,
        );
        const before = third.outputs;
        const fourth = await deployStack(stackFile(STACK, APP_CHANGED), { log, update: true, replace: rotated });
        for (const [k, v] of Object.entries({
            superuserPassword: fourth.outputs.superuserPassword,
            patroniApiPassword: fourth.outputs.patroniApiPassword,
            writeConnectionString: fourth.outputs.writeConnectionString,
        })) {
            assert.notEqual(v, (before as Record<string, unknown>)[k], `${k} is new`);
        }
        // The deploy itself waited for every replaced replica to stream with the new replication password.
        assert.equal((await streamingReplicas(fourth.outputs)).length, 1, "the replica streams");
        const [who] = await query<{ u: string }>(fourth.outputs.writeConnectionString, "SELECT current_user AS u");
        assert.equal(who.u, "shopper");
        await query(fourth.outputs.superuserConnectionString, "SELECT 1");
        await assert.rejects(query(before.superuserConnectionString, "SELECT 1"), /password authentication failed/);
        await waitBarmanCheck(fourth.outputs.barmanContainer, 240);
        await waitFor("the exporter connected with the new monitor password (pg_up 1)", 120, async () =>
            /^pg_up 1$/m.test(await (await fetch(fourth.outputs.metricsUrls.postgres)).text()),
        );
        // The REST API's new password: an operator's switchover goes through.
        const target = (await leader(fourth.outputs)).name === "db1" ? "db2" : "db1";
        await switchover(fourth.outputs, target);
        assert.equal((await leader(fourth.outputs)).name, target);
    });

    // Last, as it leaves a planted name in the WAL share for a moment: nothing later depends on Barman.
    it("11z. a symlink planted in the WAL share (from Barman's side) is not written through by a node's archive_command", async () => {
        const name = "0000000100000000000000FE";
        const victim = `${PG_HOME}/victim`;
        const planted = `${WAL_SHARE}/incoming/${name}`;
        const db1 = `${STACK}-db1`;
        await docker(["exec", db1, "sh", "-c", `printf original > ${victim}`]);
        await docker(["exec", `${STACK}-barman`, "ln", "-s", victim, planted]);
        try {
            const r = await dockerExec(db1, ["archive-wal", "/etc/hostname", name]);
            assert.equal(r.code, 1, r.stderr);
            assert.match(r.stderr, /incoming\/0000000100000000000000FE is there but not a regular file/);
        } finally {
            await docker(["exec", `${STACK}-barman`, "rm", "-f", planted]);
        }
        assert.equal(await docker(["exec", db1, "cat", victim]), "original", "the symlink's target was written");
        // The share's temporary folder: sticky and group-shared, so one party cannot replace another's file.
        assert.equal(await docker(["exec", db1, "stat", "-c", "%a", `${WAL_SHARE}/tmp`]), "3775");
    });
});
