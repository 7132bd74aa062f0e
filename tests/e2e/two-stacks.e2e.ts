// Scenario 10: two stacks with different names and ports side by side on one engine. The second one
// publishes its write and read ports on a second loopback address (what `bindAddress: 0.0.0.0` does for
// the network): only those two answer there, every admin port stays on 127.0.0.1.
import { strict as assert } from "assert";
import * as net from "net";
import { docker } from "../support/docker";
import { Deployed, deployStack, destroyStack, query } from "../support/stack";
import { directTo, log, stackFile } from "../support/helpers";
import { E2E_STACKS } from "../support/e2eStacks";

describe("e2e: two stacks side by side", function () {
    this.timeout(E2E_STACKS.blue.timeoutMs);
    // green's "network" address: any 127/8 address is this host's, and nothing else binds it.
    const EXPOSED = "127.0.0.2";
    const stacks = [
        // blue, all on loopback, lets its clients in without TLS (tls: false); the stack's own hops keep it.
        { name: E2E_STACKS.blue.stack, config: { ports: E2E_STACKS.blue.ports, tls: false } },
        // green also closes the superuser's TCP login (superuserAccess: false).
        { name: E2E_STACKS.green.stack, config: { ports: E2E_STACKS.green.ports, bindAddress: EXPOSED, superuserAccess: false } },
    ];
    after(async () => {
        for (const s of stacks) {
            await destroyStack(s.name);
        }
    });

    it("10. both run without collisions, each with its own data, and removing one leaves the other", async () => {
        const deployed = [];
        for (const s of stacks) {
            deployed.push(await deployStack(stackFile(s.name, { profile: "fast", patroniNodes: 2, etcdNodes: 1, ...s.config }), { log }));
        }
        for (const [i, d] of deployed.entries()) {
            await query(d.outputs.writeConnectionString, "CREATE TABLE whoami (stack text)");
            await query(d.outputs.writeConnectionString, "INSERT INTO whoami VALUES ($1)", [stacks[i].name]);
        }
        for (const [i, d] of deployed.entries()) {
            const rows = await query<{ stack: string }>(d.outputs.writeConnectionString, "SELECT stack FROM whoami");
            assert.deepEqual(
                rows.map(r => r.stack),
                [stacks[i].name],
            );
            const names = (await docker(["ps", "--format", "{{.Names}}", "--filter", `label=patroni-ha.stack=${stacks[i].name}`]))
                .split("\n")
                .sort();
            assert.deepEqual(names, [
                `${stacks[i].name}-barman`,
                `${stacks[i].name}-db1`,
                `${stacks[i].name}-db2`,
                `${stacks[i].name}-etcd1`,
                `${stacks[i].name}-exporter`,
                `${stacks[i].name}-haproxy`,
                `${stacks[i].name}-sentinel`,
            ]);
        }
        await plainClientsOnly(deployed[0], { ...stacks[0].config, profile: "fast", patroniNodes: 2, etcdNodes: 1 });
        await onlyWriteAndReadExposed(stacks[1].name, E2E_STACKS.green.ports);
        // superuserAccess: false: no superuser connection string, and the superuser's password through the
        // write port is refused by pg_hba (blue, the default, still has both).
        const green = deployed[1].outputs;
        assert.equal(green.superuserConnectionString, undefined);
        const asSuperuser = new URL(green.writeConnectionString);
        [asSuperuser.username, asSuperuser.password, asSuperuser.pathname] = ["postgres", green.superuserPassword, "/postgres"];
        await assert.rejects(query(asSuperuser.toString(), "SELECT 1"), /pg_hba\.conf rejects connection .*user "postgres"/);
        assert.equal((await query<{ r: number }>(deployed[0].outputs.superuserConnectionString, "SELECT 1 AS r"))[0].r, 1);
        await destroyStack(stacks[0].name);
        const [r] = await query<{ n: string }>(deployed[1].outputs.writeConnectionString, "SELECT count(*) AS n FROM whoami");
        assert.equal(r.n, "1");
    });
});

/** SSL state of this session, as PostgreSQL sees it. */
const SSL = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/**
 * tls: false: the connection strings carry no sslmode and log in plain through the write and read ports and
 * a node's published port (the superuser too, through the write port); every session of the stack's own
 * roles on the leader (replicas, Barman, the exporter) is still encrypted.
 */
async function plainClientsOnly(d: Deployed, config: Record<string, unknown>): Promise<void> {
    const o = d.outputs;
    for (const [where, cs] of [
        ["the write port", o.writeConnectionString],
        ["the read port", o.readConnectionString],
        ["db2's published port", directTo(d, config, 2)],
        ["the write port as superuser", o.superuserConnectionString],
    ]) {
        assert.equal(new URL(cs).search, "", `${where}: no sslmode, no sslrootcert`);
        const [r] = await query<{ ssl: boolean }>(cs, SSL);
        assert.equal(r.ssl, false, `a plain login through ${where}`);
    }
    // libpq's default, prefer, would still encrypt: a client that asks for TLS gets it, verified.
    const verified = new URL(o.writeConnectionString);
    verified.search = `sslmode=verify-full&sslrootcert=${o.caCertificateFile}`; // the file deployStack saved
    assert.equal((await query<{ ssl: boolean }>(verified.toString(), SSL))[0].ssl, true, "verify-full still works");
    await metricsScrape(o);
    const sessions = await query<{ who: string; ssl: boolean }>(
        o.superuserConnectionString,
        "SELECT a.backend_type || ':' || a.usename AS who, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) " +
            "WHERE a.client_addr IS NOT NULL AND a.pid <> pg_backend_pid() AND a.usename <> 'app'",
    );
    const who = sessions.map(x => x.who);
    assert.ok(who.includes("walsender:replicator"), `the replica streams: ${who.join(", ")}`);
    assert.ok(who.includes("client backend:monitor"), `the exporter is connected: ${who.join(", ")}`);
    assert.deepEqual(
        sessions.filter(x => !x.ssl).map(x => x.who),
        [],
        `the stack's own sessions stay encrypted (${who.join(", ")})`,
    );
}

/** One scrape of the PostgreSQL exporter, so that its session is open. */
async function metricsScrape(o: Deployed["outputs"]): Promise<void> {
    assert.match(await (await fetch(o.metricsUrls.postgres)).text(), /^pg_up 1$/m, "the exporter connects");
}

/** Every published binding of a stack's containers, read from the engine: "ip:port". */
async function publishedBindings(stack: string): Promise<string[]> {
    const lines = await docker(["ps", "--filter", `label=patroni-ha.stack=${stack}`, "--format", "{{.Ports}}"]);
    return [...lines.matchAll(/([\d.]+):(\d+)->/g)].map(m => `${m[1]}:${m[2]}`).sort();
}

/** Whether a TCP connection to host:port is accepted. */
function answers(host: string, port: number): Promise<boolean> {
    return new Promise(resolve => {
        const socket = net.connect({ host, port, timeout: 2000 });
        const done = (ok: boolean) => {
            socket.destroy();
            resolve(ok);
        };
        socket.once("connect", () => done(true));
        socket.once("error", () => done(false));
        socket.once("timeout", () => done(false));
    });
}

/** With bindAddress on EXPOSED: the write and read ports answer only there, every other port only on loopback. */
async function onlyWriteAndReadExposed(stack: string, ports: Record<string, number>): Promise<void> {
    const bindings = await publishedBindings(stack);
    const exposed = bindings.filter(b => !b.startsWith("127.0.0.1:"));
    assert.deepEqual(exposed, [`127.0.0.2:${ports.write}`, `127.0.0.2:${ports.read}`].sort(), "published beyond loopback");
    const admin = bindings.filter(b => b.startsWith("127.0.0.1:")).map(b => Number(b.split(":")[1]));
    // Both nodes' PostgreSQL and REST API, stats, the three metrics endpoints (exporter, Barman, sentinel); etcd
    // is not published (ports.publishEtcd false).
    assert.equal(admin.length, 2 + 2 + 1 + 3, `admin bindings: ${admin.join(", ")}`);
    assert.ok(!admin.includes(ports.etcdBase + 1), "etcd's client port is not published");
    for (const port of [ports.write, ports.read]) {
        assert.ok(await answers("127.0.0.2", port), `${port} answers on 127.0.0.2`);
        assert.ok(!(await answers("127.0.0.1", port)), `${port} does not answer on 127.0.0.1`);
    }
    for (const port of admin) {
        assert.ok(await answers("127.0.0.1", port), `admin port ${port} answers on loopback`);
        assert.ok(!(await answers("127.0.0.2", port)), `admin port ${port} does not answer on the exposed address`);
    }
}
