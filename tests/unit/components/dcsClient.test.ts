// The DCS client against a fake etcd gateway and fake Patroni members on loopback; etcd is reached the way
// the real stack's is, through `docker exec -i <member> etcd-v3 <path>`, here a fake `docker` on PATH.
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { applyDynamicConfig, configPatch, DynamicConfigState } from "../../../components/dcsClient";
import { dynamicConfigProvider } from "../../../components/patroniDynamicConfig";
import { FakeCluster } from "../../support/fakeCluster";

function state(c: FakeCluster, config: Record<string, unknown>): DynamicConfigState {
    return {
        scope: "s",
        namespace: "/service/",
        etcdContainers: ["s-etcd1", "s-etcd2"],
        apiUser: "patroni",
        apiPassword: "secret",
        members: c.members.map(m => ({ name: m.name, apiUrl: `${c.url}/${m.name}` })),
        caCertificate: "",
        config: JSON.stringify(config),
        timeoutSeconds: 5,
    };
}

/** A `docker` that answers `exec -i <member> etcd-v3 <path>` from the fake gateway, logging the member. */
const FAKE_DOCKER = `#!/bin/sh
[ "$1" = exec ] && [ "$2" = -i ] && [ "$4" = etcd-v3 ] || { echo "fake docker: unexpected $*" >&2; exit 2; }
case " $FAKE_ETCD_DOWN " in *" $3 "*) echo "Error response from daemon: container $3 is not running" >&2; exit 1;; esac
echo "$3 $5" >> "$FAKE_DOCKER_LOG"
exec curl -fsS --data-binary @- "$FAKE_ETCD_URL/v3/$5"
`;

describe("DCS client", () => {
    let c: FakeCluster;
    let dir: string;
    const saved = { ...process.env };
    beforeEach(async () => {
        c = new FakeCluster();
        c.auth = "patroni:secret";
        await c.start();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-docker-"));
        fs.writeFileSync(path.join(dir, "docker"), FAKE_DOCKER, { mode: 0o755 });
        Object.assign(process.env, {
            PATH: `${dir}:${process.env.PATH}`,
            FAKE_ETCD_URL: c.url,
            FAKE_DOCKER_LOG: path.join(dir, "log"),
            FAKE_ETCD_DOWN: "",
        });
    });
    afterEach(() => {
        c.stop();
        fs.rmSync(dir, { recursive: true, force: true });
        for (const k of ["PATH", "FAKE_ETCD_URL", "FAKE_DOCKER_LOG", "FAKE_ETCD_DOWN"]) {
            if (saved[k] === undefined) {
                delete process.env[k];
            } else {
                process.env[k] = saved[k];
            }
        }
    });

    it("reaches etcd inside a member (docker exec etcd-v3), moving on when a member is down", async () => {
        process.env.FAKE_ETCD_DOWN = "s-etcd1";
        const report = await applyDynamicConfig(state(c, { ttl: 30 }));
        assert.equal(report.mode, "seeded");
        assert.deepEqual(fs.readFileSync(path.join(dir, "log"), "utf8").trim().split("\n"), ["s-etcd2 kv/range", "s-etcd2 kv/put"]);
        process.env.FAKE_ETCD_DOWN = "s-etcd1 s-etcd2";
        await assert.rejects(
            applyDynamicConfig({ ...state(c, { ttl: 30 }), timeoutSeconds: 1 }),
            /no etcd member answered: s-etcd1: .*not running; s-etcd2: .*not running/,
        );
    });

    it("seeds the config into etcd when the cluster is not initialized yet, touching no member", async () => {
        const report = await applyDynamicConfig(state(c, { ttl: 30 }));
        assert.equal(report.mode, "seeded");
        assert.equal(c.kv.get("/service/s/config"), JSON.stringify({ ttl: 30 }));
        assert.deepEqual(c.log, ["put /service/s/config"]);
    });

    it("patches a running cluster, deleting the keys the stack dropped, and restarts replicas before the leader", async () => {
        c.kv.set("/service/s/initialize", "123");
        // loop_wait 0: the fake applies a change at once, so the client's settle wait is its minimum (3 s).
        c.config = { ttl: 30, loop_wait: 0, postgresql: { parameters: { work_mem: "4MB", jit: "off" } } };
        c.members = [
            { name: "db1", role: "primary", pending: true, state: "running", streaming: false },
            { name: "db2", role: "replica", pending: true, state: "running", streaming: true },
            { name: "db3", role: "replica", pending: false, state: "running", streaming: true },
        ];
        const desired = { ttl: 25, loop_wait: 0, postgresql: { parameters: { work_mem: "8MB", max_connections: 200 } } };
        const previous = JSON.stringify(c.config);
        const report = await applyDynamicConfig(state(c, desired), undefined, previous);
        assert.equal(report.mode, "patched");
        assert.deepEqual(c.config, desired);
        assert.deepEqual(
            c.log.filter(l => l.startsWith("patch")),
            [`patch ${JSON.stringify({ ttl: 25, postgresql: { parameters: { jit: null, work_mem: "8MB", max_connections: 200 } } })}`],
        );
        assert.deepEqual(report.restarted, ["db2", "db1"]);
        assert.deepEqual(
            c.log.filter(l => l.startsWith("restart")),
            ["restart db2", "restart db1"],
        );
    });

    it("writes the config to etcd when the cluster is initialized but no member runs (deployed again on kept volumes)", async () => {
        c.kv.set("/service/s/initialize", "123");
        // A port that was just free: every member's REST port refuses the connection.
        const probe = net.createServer();
        await new Promise<void>(r => probe.listen(0, "127.0.0.1", r));
        const port = (probe.address() as net.AddressInfo).port;
        await new Promise(r => probe.close(r));
        const gone = { ...state(c, { ttl: 25 }), members: [{ name: "db1", apiUrl: `http://127.0.0.1:${port}` }] };
        const report = await applyDynamicConfig(gone);
        assert.equal(report.mode, "seeded");
        assert.equal(c.kv.get("/service/s/config"), JSON.stringify({ ttl: 25 }));
    });

    it("fails with the reason when the API password is wrong, instead of hanging", async () => {
        c.kv.set("/service/s/initialize", "1");
        c.config = { ttl: 30, loop_wait: 1 };
        c.members = [{ name: "db1", role: "primary", pending: false, state: "running", streaming: false }];
        c.auth = "patroni:other";
        await assert.rejects(
            applyDynamicConfig({ ...state(c, { ttl: 20 }), timeoutSeconds: 2 }),
            /PATCH \/config: gave up after 2s: HTTP 401/,
        );
    });

    it("configPatch sends what differs, deletes only what the stack owned and dropped, and leaves the rest", () => {
        const previous = { a: 1, b: { c: 1, d: 2 }, e: [1] };
        // The operator paused the cluster and added a parameter with edit-config; the stack dropped b.d.
        const current = { ...previous, pause: true, b: { c: 1, d: 2, mine: "x" } };
        assert.deepEqual(configPatch(current, { a: 2, b: { c: 1 }, e: [2] }, previous), { b: { d: null }, a: 2, e: [2] });
        assert.deepEqual(configPatch(current, { a: 1, b: { c: 1, d: 2 }, e: [1] }, previous), {}, "nothing owned differs: nothing to send");
        assert.deepEqual(configPatch(current, { a: 1 }), {}, "with no previous config nothing is deleted");
        assert.deepEqual(configPatch({ a: 1 }, { a: { b: 1 } }, { a: 1 }), { a: { b: 1 } }, "a value that becomes an object");
    });

    it("refresh reads the owned keys as the DCS holds them; a drifted one shows as a change of that key and is patched back, pause untouched", async () => {
        c.kv.set("/service/s/initialize", "123");
        c.members = [{ name: "db1", role: "primary", pending: false, state: "running", streaming: false }];
        const desired = { ttl: 30, loop_wait: 0, postgresql: { parameters: { work_mem: "4MB", jit: "off" } } };
        // An operator changed an owned key (ttl) and paused the cluster with patronictl.
        c.config = { ttl: 45, loop_wait: 0, pause: true, postgresql: { parameters: { work_mem: "4MB", jit: "off", x: "1" } } };
        const deployed = { ...state(c, desired), config: desired };
        const read = await dynamicConfigProvider.read!("dcs", deployed);
        assert.deepEqual(read.inputs?.config, { ttl: 45, loop_wait: 0, postgresql: { parameters: { work_mem: "4MB", jit: "off" } } });
        const diff = await dynamicConfigProvider.diff!("dcs", read.inputs as DynamicConfigState, deployed);
        assert.equal(diff.changes, true);
        // Without drift, refreshed and desired agree: no change.
        const clean = await dynamicConfigProvider.diff!("dcs", { ...deployed, config: { ...desired } }, deployed);
        assert.equal(clean.changes, false);
        await dynamicConfigProvider.update!("dcs", read.inputs as DynamicConfigState, deployed);
        assert.deepEqual(
            c.log.filter(l => l.startsWith("patch")),
            [`patch ${JSON.stringify({ ttl: 30 })}`],
        );
        assert.equal(c.config.pause, true);
        // No member answering (a stopped stack): the state stays as it was.
        c.members = [];
        assert.deepEqual((await dynamicConfigProvider.read!("dcs", deployed)).props, deployed);
    });

    it("a stack deployed before keeps its config as JSON text: compared and patched the same", async () => {
        const text = state(c, { ttl: 30 });
        assert.equal((await dynamicConfigProvider.diff!("dcs", text, { ...text, config: { ttl: 30 } })).changes, false);
        assert.equal((await dynamicConfigProvider.diff!("dcs", text, { ...text, config: { ttl: 31 } })).changes, true);
    });

    it("an operator's pause and edit-config keys survive a tuning change", async () => {
        c.kv.set("/service/s/initialize", "1");
        const previous = { ttl: 30, loop_wait: 0, postgresql: { parameters: { work_mem: "4MB" } } };
        c.config = { ...previous, pause: true, postgresql: { parameters: { work_mem: "4MB", log_min_duration_statement: 500 } } };
        c.members = [{ name: "db1", role: "primary", pending: false, state: "running", streaming: false }];
        await applyDynamicConfig(state(c, { ...previous, ttl: 25 }), undefined, JSON.stringify(previous));
        assert.deepEqual(c.config, {
            ttl: 25,
            loop_wait: 0,
            pause: true,
            postgresql: { parameters: { work_mem: "4MB", log_min_duration_statement: 500 } },
        });
    });
});

describe("PatroniDynamicConfig provider", () => {
    it("diffs in place, replacing only for a new scope", async () => {
        const base = {
            scope: "s",
            namespace: "/service/",
            etcdContainers: [],
            members: [],
            apiUser: "u",
            apiPassword: "p",
            config: "{}",
            timeoutSeconds: 1,
        };
        assert.deepEqual(await dynamicConfigProvider.diff!("id", base, { ...base, config: '{"ttl":20}' }), {
            changes: true,
            replaces: [],
            deleteBeforeReplace: false,
        });
        assert.deepEqual(await dynamicConfigProvider.diff!("id", base, { ...base }), {
            changes: false,
            replaces: [],
            deleteBeforeReplace: false,
        });
        assert.deepEqual((await dynamicConfigProvider.diff!("id", base, { ...base, scope: "t" })).replaces, ["scope"]);
    });

    it("serializes into a self-contained function, as the provider process needs", async () => {
        const serialized = await pulumi.runtime.serializeFunction(() => dynamicConfigProvider, { isFactoryFunction: true });
        assert.match(serialized.text, /applyDynamicConfig/);
        assert.match(serialized.text, /waitAllStreaming/);
        // lib/patroniApi is captured by value: the provider process has no checkout to require it from.
        assert.match(serialized.text, /apiRequest/);
        assert.deepEqual(serialized.text.match(/require\(["'][./][^"']*["']\)/g) ?? [], [], "requires a local module");
    });
});
