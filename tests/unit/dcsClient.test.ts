// The DCS client against a fake etcd gateway and fake Patroni members on loopback.
import { strict as assert } from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import * as pulumi from "@pulumi/pulumi";
import { applyDynamicConfig, configPatch, DynamicConfigState } from "../../components/dcsClient";
import { dynamicConfigProvider } from "../../components/patroniDynamicConfig";

interface FakeMember { name: string; role: string; pending: boolean; state: string; streaming: boolean }

/** One HTTP server playing etcd's v3 JSON gateway and every Patroni member (by path prefix /dbN). */
class FakeCluster {
    kv = new Map<string, string>();
    config: Record<string, unknown> = {};
    members: FakeMember[] = [];
    log: string[] = [];
    auth = "";
    private server = http.createServer((req, res) => this.handle(req, res));
    url = "";

    async start() {
        await new Promise<void>(r => this.server.listen(0, "127.0.0.1", () => r()));
        this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }
    stop() { this.server.close(); }

    private handle(req: http.IncomingMessage, res: http.ServerResponse) {
        let body = "";
        req.on("data", d => { body += d; });
        req.on("end", () => {
            const reply = (status: number, json: unknown) => { res.writeHead(status, { "content-type": "application/json" }); res.end(JSON.stringify(json)); };
            const b64 = (s: string) => Buffer.from(s, "base64").toString();
            const url = req.url ?? "";
            if (url === "/v3/kv/range") {
                const key = b64(JSON.parse(body).key);
                return reply(200, this.kv.has(key) ? { kvs: [{ key, value: Buffer.from(this.kv.get(key)!).toString("base64") }] } : {});
            }
            if (url === "/v3/kv/put") {
                const { key, value } = JSON.parse(body);
                this.kv.set(b64(key), b64(value));
                this.log.push(`put ${b64(key)}`);
                return reply(200, {});
            }
            const m = /^\/(db\d)\/(\w+)$/.exec(url);
            const member = this.members.find(x => x.name === m?.[1]);
            if (!m || !member) { return reply(404, {}); }
            const authed = req.headers.authorization === `Basic ${Buffer.from(this.auth).toString("base64")}`;
            if (m[2] === "config" && req.method === "GET") { return reply(200, this.config); }
            if (m[2] === "config" && req.method === "PATCH") {
                if (!authed) { return reply(401, { text: "not authenticated" }); }
                const patch = JSON.parse(body);
                this.log.push(`patch ${JSON.stringify(patch)}`);
                const merge = (t: Record<string, unknown>, p: Record<string, unknown>) => {
                    for (const [k, v] of Object.entries(p)) {
                        if (v === null) { delete t[k]; } else if (typeof v === "object" && !Array.isArray(v) && typeof t[k] === "object") { merge(t[k] as Record<string, unknown>, v as Record<string, unknown>); } else { t[k] = v; }
                    }
                };
                merge(this.config, patch);
                return reply(200, this.config);
            }
            if (m[2] === "patroni") {
                const leader = this.members.find(x => x.role === "primary");
                return reply(200, {
                    state: member.state, role: member.role, pending_restart: member.pending || undefined,
                    ...(member.role === "primary" ? { replication: this.members.filter(x => x !== leader && x.streaming).map(x => ({ application_name: x.name, state: "streaming" })) } : {}),
                });
            }
            if (m[2] === "restart" && req.method === "POST") {
                if (!authed) { return reply(401, {}); }
                this.log.push(`restart ${member.name}`);
                member.pending = false;
                return reply(200, { text: "restarted successfully" });
            }
            return reply(404, {});
        });
    }
}

function state(c: FakeCluster, config: Record<string, unknown>): DynamicConfigState {
    return {
        scope: "s", namespace: "/service/", etcdEndpoints: [c.url], apiUser: "patroni", apiPassword: "secret",
        members: c.members.map(m => ({ name: m.name, apiUrl: `${c.url}/${m.name}` })), config: JSON.stringify(config), timeoutSeconds: 5,
    };
}

describe("DCS client", () => {
    let c: FakeCluster;
    beforeEach(async () => {
        c = new FakeCluster();
        c.auth = "patroni:secret";
        await c.start();
    });
    afterEach(() => c.stop());

    it("seeds the config into etcd when the cluster is not initialized yet, touching no member", async () => {
        const report = await applyDynamicConfig(state(c, { ttl: 30 }));
        assert.equal(report.mode, "seeded");
        assert.equal(c.kv.get("/service/s/config"), JSON.stringify({ ttl: 30 }));
        assert.deepEqual(c.log, ["put /service/s/config"]);
    });

    it("patches a running cluster, nulling removed keys, and restarts replicas before the leader", async () => {
        c.kv.set("/service/s/initialize", "123");
        c.config = { ttl: 30, loop_wait: 1, postgresql: { parameters: { work_mem: "4MB", jit: "off" } } };
        c.members = [
            { name: "db1", role: "primary", pending: true, state: "running", streaming: false },
            { name: "db2", role: "replica", pending: true, state: "running", streaming: true },
            { name: "db3", role: "replica", pending: false, state: "running", streaming: true },
        ];
        const desired = { ttl: 25, loop_wait: 1, postgresql: { parameters: { work_mem: "8MB", max_connections: 200 } } };
        const report = await applyDynamicConfig(state(c, desired));
        assert.equal(report.mode, "patched");
        assert.deepEqual(c.config, desired);
        assert.deepEqual(c.log.filter(l => l.startsWith("patch")), [`patch ${JSON.stringify({ ttl: 25, loop_wait: 1, postgresql: { parameters: { jit: null, work_mem: "8MB", max_connections: 200 } } })}`]);
        assert.deepEqual(report.restarted, ["db2", "db1"]);
        assert.deepEqual(c.log.filter(l => l.startsWith("restart")), ["restart db2", "restart db1"]);
    });

    it("fails with the reason when the API password is wrong, instead of hanging", async () => {
        c.kv.set("/service/s/initialize", "1");
        c.config = { ttl: 30, loop_wait: 1 };
        c.members = [{ name: "db1", role: "primary", pending: false, state: "running", streaming: false }];
        c.auth = "patroni:other";
        await assert.rejects(applyDynamicConfig({ ...state(c, { ttl: 20 }), timeoutSeconds: 2 }), /PATCH \/config: gave up after 2s: HTTP 401/);
    });

    it("configPatch deletes with null only what the desired config dropped", () => {
        assert.deepEqual(configPatch({ a: 1, b: { c: 1, d: 2 }, e: [1] }, { a: 2, b: { c: 1 }, e: [2] }), { a: 2, b: { c: 1, d: null }, e: [2] });
    });
});

describe("PatroniDynamicConfig provider", () => {
    it("diffs in place, replacing only for a new scope", async () => {
        const base = { scope: "s", namespace: "/service/", etcdEndpoints: [], members: [], apiUser: "u", apiPassword: "p", config: "{}", timeoutSeconds: 1 };
        assert.deepEqual(await dynamicConfigProvider.diff!("id", base, { ...base, config: "{\"ttl\":20}" }), { changes: true, replaces: [], deleteBeforeReplace: false });
        assert.deepEqual(await dynamicConfigProvider.diff!("id", base, { ...base }), { changes: false, replaces: [], deleteBeforeReplace: false });
        assert.deepEqual((await dynamicConfigProvider.diff!("id", base, { ...base, scope: "t" })).replaces, ["scope"]);
    });

    it("serializes into a self-contained function, as the provider process needs", async () => {
        const serialized = await pulumi.runtime.serializeFunction(() => dynamicConfigProvider, { isFactoryFunction: true });
        assert.match(serialized.text, /applyDynamicConfig/);
        assert.match(serialized.text, /waitAllStreaming/);
    });
});
