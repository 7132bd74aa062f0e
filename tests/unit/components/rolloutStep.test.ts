// components/rolloutStep.ts and patroniRollout.ts: the rolling replacement of the Patroni containers.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { PatroniRollout } from "../../../components/patroniRollout";
import { previousInOrder, rolloutOrder, rolloutStepProvider, RolloutStepState, runRolloutStep } from "../../../components/rolloutStep";
import { FakeCluster, FakeMember } from "../../support/fakeCluster";
import { declareUnderMocks } from "../../support/program";

const replica = (name: string, extra: Partial<FakeMember> = {}): FakeMember => ({
    name,
    role: "replica",
    pending: false,
    state: "running",
    streaming: true,
    ...extra,
});
const primary = (name: string): FakeMember => ({ name, role: "primary", pending: false, state: "running", streaming: false });

describe("rollout: the order and the chain", () => {
    it("replaces the leader last and keeps program order otherwise", () => {
        assert.deepEqual(rolloutOrder(["db1", "db2", "db3"], "db1"), ["db2", "db3", "db1"]);
        assert.deepEqual(rolloutOrder(["db1", "db2", "db3"], "db2"), ["db1", "db3", "db2"]);
        assert.deepEqual(rolloutOrder(["db1", "db2", "db3"], undefined), ["db1", "db2", "db3"]);
        assert.deepEqual(rolloutOrder(["db1", "db2"], "db9"), ["db1", "db2"], "a leader the program no longer declares");
        assert.equal(previousInOrder(["db2", "db3", "db1"], "db2"), undefined);
        assert.equal(previousInOrder(["db2", "db3", "db1"], "db1"), "db3");
        assert.equal(previousInOrder(["db2", "db3", "db1"], undefined), "db1", "the step after the last node follows it");
    });

    it("declares step, container, step, container … in the rollout order, the leader's last, then the final step", async () => {
        const declared = await declareUnderMocks("chain", () => {
            let open: (s: Record<string, pulumi.Resource>) => void = () => undefined;
            const gates = new Promise<Record<string, pulumi.Resource>>(r => (open = r));
            // Stand-ins for the node containers, gated like PatroniCluster gates them.
            const nodes = ["db1", "db2", "db3"].map(name => {
                const gate: Promise<pulumi.Resource[]> = gates.then(g => [g[name]]);
                return {
                    name,
                    apiUrl: `https://127.0.0.1:1/${name}`,
                    fingerprint: `fp-${name}`,
                    containerName: `s-${name}`,
                    container: new random.RandomId(`container-${name}`, { byteLength: 4 }, { dependsOn: gate }),
                };
            });
            const rollout = new PatroniRollout("r", {
                nodes,
                caCertificate: "ca",
                apiUser: "u",
                apiPassword: "p",
                rolePasswords: { replication: "r1" },
                app: { user: "app", database: "app" },
                leader: "db1",
            });
            open(rollout.steps);
        });
        assert.deepEqual(
            declared.filter(d => d.type !== "patroni-ha:index:PatroniRollout").map(d => d.name),
            ["r-db2", "container-db2", "r-db3", "container-db3", "r-db1", "container-db1", "r-done"],
        );
        const step = declared.find(d => d.name === "r-db1")!;
        assert.deepEqual(step.inputs.order, ["db2", "db3", "db1"]);
        assert.deepEqual(step.inputs.fingerprints, { db1: "fp-db1", db2: "fp-db2", db3: "fp-db3" });
    });
});

describe("rollout step: what an update does", () => {
    let c: FakeCluster;
    const state = (member: string | undefined, order: string[], fingerprints: Record<string, string>): RolloutStepState => ({
        member,
        order,
        fingerprints,
        members: c.members.map(m => ({ name: m.name, apiUrl: `${c.url}/${m.name}` })),
        caCertificate: "",
        apiUser: "patroni",
        apiPassword: "secret",
        timeoutSeconds: 5,
    });
    const old = { db1: "a", db2: "a", db3: "a" };
    const changed = { db1: "b", db2: "b", db3: "b" };

    beforeEach(async () => {
        c = new FakeCluster();
        c.auth = "patroni:secret";
        c.switchoverMoves = true;
        await c.start();
        c.members = [primary("db1"), replica("db2"), replica("db3", { clusterRole: "sync_standby" })];
    });
    afterEach(() => c.stop());

    it("before the leader's container goes: a switchover to the synchronous standby, then waits until it leads", async () => {
        await runRolloutStep(old, state("db1", ["db2", "db3", "db1"], changed));
        assert.deepEqual(c.log, ['switchover {"leader":"db1","candidate":"db3"} via db3']);
        assert.equal(c.members.find(m => m.role === "primary")?.name, "db3");
    });

    it("after the last node: a leader on a node this deploy removes hands over to a node that stays", async () => {
        c.members.push(replica("db4", { clusterRole: "sync_standby" }));
        [c.members[0].role, c.members[0].streaming, c.members[3].role] = ["replica", true, "primary"];
        c.members[3].clusterRole = undefined;
        const before = { ...old, db4: "a" };
        // db4 removed (no longer in the fingerprints, the order or the endpoints); db3, the synchronous standby,
        // takes over, asked through its own REST API.
        const s = state(undefined, ["db1", "db2", "db3"], old);
        await runRolloutStep(before, { ...s, members: s.members.filter(m => m.name !== "db4") });
        assert.deepEqual(c.log, ['switchover {"leader":"db4","candidate":"db3"} via db3']);
        assert.equal(c.members.find(m => m.role === "primary")?.name, "db3");
        // Nothing removed, or the leader stays: no switchover.
        c.log = [];
        await runRolloutStep(old, state(undefined, ["db1", "db2", "db3"], old));
        await runRolloutStep({ ...old, db5: "a" }, state(undefined, ["db1", "db2", "db3"], old));
        assert.deepEqual(c.log, []);
    });

    it("created on a running stack (an upgrade to a version with steps): acts as if every container changed; on a new node or stack: nothing", async () => {
        await rolloutStepProvider.create!(state("db1", ["db2", "db3", "db1"], changed));
        assert.deepEqual(c.log, ['switchover {"leader":"db1","candidate":"db3"} via db3']);
        c.log = [];
        c.members = c.members.filter(m => m.name !== "db1");
        await rolloutStepProvider.create!({ ...state("db4", ["db2", "db3", "db4"], changed), timeoutSeconds: 1 });
        assert.deepEqual(c.log, []);
    });

    it("before a replica's container goes: no switchover", async () => {
        await runRolloutStep(old, state("db2", ["db2", "db3", "db1"], changed));
        assert.deepEqual(c.log, []);
    });

    it("a node whose container stays (same fingerprint) or is new is not handed over", async () => {
        await runRolloutStep(old, state("db1", ["db2", "db3", "db1"], { ...changed, db1: "a" }));
        await runRolloutStep({ db2: "a", db3: "a" }, state("db1", ["db2", "db3", "db1"], changed));
        assert.deepEqual(c.log, []);
    });

    it("waits until the node replaced before it runs and streams again, and gives up naming it", async () => {
        const db2 = c.members.find(m => m.name === "db2")!;
        db2.state = "starting";
        db2.streaming = false;
        setTimeout(() => (db2.state = "running"), 600);
        setTimeout(() => (db2.streaming = true), 1500);
        const started = Date.now();
        await runRolloutStep(old, state("db3", ["db2", "db3", "db1"], changed));
        assert.ok(Date.now() - started >= 1400, `returned after ${Date.now() - started} ms, before db2 streamed`);

        db2.streaming = false;
        await assert.rejects(
            runRolloutStep(old, { ...state("db3", ["db2", "db3", "db1"], changed), timeoutSeconds: 1 }),
            /every replica streaming.*not streaming yet: db2/,
        );
        // Unchanged previous node: nothing to wait for.
        await runRolloutStep(old, { ...state("db3", ["db2", "db3", "db1"], { ...changed, db2: "a" }), timeoutSeconds: 1 });
    });

    it("a new CA (rotation): no switchover and no wait, the nodes cannot verify each other across CAs", async () => {
        const s = state("db1", ["db2", "db3", "db1"], old);
        c.members.find(m => m.name === "db3")!.state = "stopped";
        await rolloutStepProvider.update!("id", s, { ...s, fingerprints: changed, caCertificate: "new CA", timeoutSeconds: 1 });
        assert.deepEqual(c.log, []);
        await assert.rejects(rolloutStepProvider.update!("id", s, { ...s, fingerprints: changed, timeoutSeconds: 1 }), /db3 is stopped/);
    });

    it("a rotated role password is set on the leader (docker exec, on stdin) by the first step, before any container goes", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-docker-"));
        fs.writeFileSync(path.join(dir, "docker"), `#!/bin/sh\necho "$*" >> ${dir}/calls\ncat > ${dir}/stdin\n`, { mode: 0o755 });
        const savedPath = process.env.PATH;
        process.env.PATH = `${dir}:${process.env.PATH}`;
        try {
            const base = {
                ...state("db2", ["db2", "db3", "db1"], old),
                app: { user: "app", database: "appdb" },
                containers: { db1: "s-db1", db2: "s-db2", db3: "s-db3" },
                rolePasswords: { superuser: "su1", replication: "repl1" },
            };
            await rolloutStepProvider.update!("id", base, { ...base, rolePasswords: { superuser: "su1", replication: "repl2" } });
            assert.deepEqual(fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n"), [
                "exec -i s-db1 env ROLE_PASSWORDS_FILE=- APP_USER=app APP_DATABASE=appdb patroni-sync-passwords",
            ]);
            assert.equal(fs.readFileSync(path.join(dir, "stdin"), "utf8"), "superuser=su1\nreplication=repl2\n");
            // Not the first step, or nothing rotated: nothing run.
            fs.rmSync(path.join(dir, "calls"));
            const third = { ...base, member: "db3" };
            await rolloutStepProvider.update!("id", third, { ...third, rolePasswords: { superuser: "su2" } });
            await rolloutStepProvider.update!("id", base, { ...base });
            assert.equal(fs.existsSync(path.join(dir, "calls")), false);
        } finally {
            process.env.PATH = savedPath;
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("diff: a new order alone (a failover since the last deploy) is no change; a new fingerprint is", async () => {
        const s = state("db2", ["db1", "db2", "db3"], old);
        assert.equal((await rolloutStepProvider.diff!("id", s, { ...s, order: ["db2", "db3", "db1"] })).changes, false);
        assert.equal((await rolloutStepProvider.diff!("id", s, { ...s, fingerprints: { ...old, db3: "b" } })).changes, true);
        assert.deepEqual((await rolloutStepProvider.diff!("id", s, { ...s, fingerprints: changed })).replaces, []);
    });

    it("the provider serializes without local requires (Pulumi runs it in its own process)", async () => {
        const serialized = await pulumi.runtime.serializeFunction(() => rolloutStepProvider, { isFactoryFunction: true });
        assert.match(serialized.text, /switchoverCandidates/);
        assert.deepEqual(serialized.text.match(/require\(["'][./][^"']*["']\)/g) ?? [], [], "requires a local module");
    });
});
