// HA scenarios on a real Docker engine (issue: a real cluster, failover proven on every CI run).
// One stack serves the non-destructive scenarios; destructive ones run last. Bounds are liveness
// timeouts, not performance targets (those live in `npm run bench`).
import { strict as assert } from "assert";
import { DynamicConfigState } from "../../components/dcsClient";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { apiRequest, getJson, httpRequest, memberStatus } from "../../lib/patroniApi";
import { memberEndpoints } from "../../ops/outputs";
import { switchover } from "../../ops/switchover";
import { parseConfig } from "../../config";
import type { ImageRole } from "../../components/images";
import { pidsLimitFor } from "../../configs/limits";
import { API_PORT, PG_PORT, SECRET_DIR, SECRET_ENV, TLS_FILES } from "../../configs/layout";
import { docker, dockerExec, run } from "../support/docker";
import { clusterView, Deployed, deployedDcsInputs, deployStack, destroyStack, pg, query } from "../support/stack";
import { plannedDynamicConfig, updateDynamicConfig } from "../support/update";
import { assertAckedAround, createTable, missingRows, startWriter, waitFor } from "../support/workload";
import { E2E_STACKS } from "../support/e2eStacks";
import { foreignClientIdentity } from "../support/certificates";
import { startArgvScan } from "../support/argvScan";
import {
    containerIds,
    containerStarts,
    directTo,
    nodeSql,
    reportRollingOutage,
    haproxyStatus,
    leader,
    log,
    stackFile,
    streamingReplicas,
    waitNewLeader,
    waitRejoined,
} from "../support/helpers";

const STACK = E2E_STACKS.cluster.stack;
/** Patroni's CLI in a node, the way README shows it. */
const patronictl = (...a: string[]) =>
    spawnSync("npm", ["run", "--silent", "patronictl", "--", ...a], {
        cwd: path.join(__dirname, "..", ".."),
        env: { ...process.env, STACK },
        encoding: "utf8",
    });
/** A node's fixed address on the stack network. */
const nodeAddress = (name: string) => parseConfig(CONFIG, STACK).spec.addresses.memberSlots.find(s => s.name === name)!.address;
// Asynchronous (test 5 shows an asynchronous kill and 6 the rewind after it); the synchronous default and
// every fault under it are the chaos suite's.
const CONFIG: Record<string, unknown> = {
    patroni: { synchronousMode: "off" },
    patroniNodes: 4,
    etcdNodes: 3,
    subnet: E2E_STACKS.cluster.subnet,
    serviceSubnet: E2E_STACKS.cluster.serviceSubnet,
    ports: E2E_STACKS.cluster.ports,
};

describe("e2e: a 4-node cluster with 3 etcd members on the real engine", function () {
    this.timeout(E2E_STACKS.cluster.timeoutMs);
    let d: Deployed;
    let config = { ...CONFIG };
    // Every command line on the host while the stack bootstraps (checked in 3j).
    let bootstrapArgv: { commandLines: Set<string>; samples: number };

    before(async () => {
        const scan = startArgvScan();
        try {
            d = await deployStack(stackFile(STACK, config), { log });
        } finally {
            bootstrapArgv = scan.stop();
        }
        log(`deployed in ${d.timings.healthy.toFixed(1)} s`);
    });
    after(async () => {
        if (!process.env.E2E_KEEP) {
            await destroyStack(STACK);
        }
    });

    it("1. elects one leader and every replica streams from it", async () => {
        const members = await clusterView(d.outputs);
        assert.equal(members.filter(m => m.role === "leader").length, 1);
        const l = await leader(d.outputs);
        assert.deepEqual(
            await streamingReplicas(d.outputs),
            ["db1", "db2", "db3", "db4"].filter(n => n !== l.name),
        );
    });

    it("2. the write port lands on the primary, the read port on replicas, spread over more than one", async () => {
        const [w] = await query<{ r: boolean }>(d.outputs.writeConnectionString, "SELECT pg_is_in_recovery() AS r");
        assert.equal(w.r, false);
        // Right after deploy a replica may still be joining HAProxy's read pool: wait until all three are in it.
        await waitFor(
            "every replica in HAProxy's read pool",
            60,
            async () => (await haproxyStatus(d.outputs, "replicas")).filter(s => s === "UP").length === 3,
        );
        const seen = new Map<string, number>();
        for (let i = 0; i < 24; i++) {
            const [r] = await query<{ r: boolean; a: string }>(
                d.outputs.readConnectionString,
                "SELECT pg_is_in_recovery() AS r, inet_server_addr()::text AS a",
            );
            assert.equal(r.r, true, `sample ${i}: the read port reached the primary while replicas were healthy`);
            seen.set(r.a, (seen.get(r.a) ?? 0) + 1);
        }
        assert.equal(seen.size, 3, `24 reads must reach all three replicas (round robin): ${JSON.stringify([...seen])}`);
    });

    it("3. a row written through the write port is readable through the read port", async () => {
        await createTable(d.outputs.writeConnectionString, "visibility");
        await query(d.outputs.writeConnectionString, "INSERT INTO visibility (id) VALUES (42)");
        const seconds = await waitFor(
            "the row on a replica",
            30,
            async () => (await query(d.outputs.readConnectionString, "SELECT 1 FROM visibility WHERE id = 42")).length === 1,
        );
        log(`row visible through the read port after ${seconds} s`);
    });

    it("3c. every container runs with no Linux capabilities and no privilege escalation (the sentinel: two, to start its processes as their users), and with a pids limit", async () => {
        const names = (await docker(["ps", "--filter", `label=patroni-ha.stack=${STACK}`, "--format", "{{.Names}}"]))
            .split("\n")
            .filter(Boolean);
        assert.ok(names.length >= 9, `containers: ${names}`);
        for (const name of names) {
            // The bounding set is empty (nothing can be regained) and no-new-privileges is set, as the kernel sees it.
            const status = await docker(["exec", name, "grep", "-E", "^(CapBnd|CapEff|NoNewPrivs):", "/proc/self/status"]);
            // The sentinel's container starts as root with CAP_SETGID and CAP_SETUID only (0xc0): its filter and
            // the sentinel then run as their own users with none (tests/e2e/chaos.e2e.ts reads their status).
            const caps = name === `${STACK}-sentinel` ? "0{14}c0" : "0{16}";
            assert.match(status, new RegExp(`CapBnd:\\s+${caps}$`, "m"), `${name}: ${status}`);
            assert.match(status, new RegExp(`CapEff:\\s+${caps}$`, "m"), `${name}: ${status}`);
            assert.match(status, /NoNewPrivs:\s+1/, `${name}: ${status}`);
            // A pids limit for its role, in the engine's configuration and in the kernel's cgroup.
            const [role, limit] = (
                await docker(["inspect", "-f", '{{index .Config.Labels "patroni-ha.role"}} {{.HostConfig.PidsLimit}}', name])
            ).split(" ");
            assert.equal(
                Number(limit),
                pidsLimitFor(role as ImageRole, parseConfig(config, STACK).spec.patroni.postgresql),
                `${name} (${role}): pids limit`,
            );
            const cgroup = await docker([
                "exec",
                name,
                "sh",
                "-c",
                "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max",
            ]);
            assert.equal(Number(cgroup), Number(limit), `${name}: pids.max`);
        }
        // The kernel enforces it: a fork loop in the exporter (256) stops short (its children end in 3 s).
        const forks = await run(
            "docker",
            ["exec", `${STACK}-exporter`, "sh", "-c", "i=0; while [ $i -lt 400 ]; do sleep 3 & i=$((i+1)); done; echo $i"],
            { allowFail: true },
        );
        assert.notEqual(forks.stdout.trim(), "400", "400 processes in a container limited to 256");
        assert.match(forks.stderr, /fork|temporarily unavailable/i, forks.stderr);
    });

    it("3e. no password in the environment PostgreSQL gives its programs (read by SQL as the superuser); the role passwords on a tmpfs, 0600", async () => {
        const passwords = Object.entries(d.outputs).filter(([k, v]) => /Password$/.test(k) && typeof v === "string") as [string, string][];
        passwords.push(["app", decodeURIComponent(new URL(d.outputs.writeConnectionString).password)]);
        assert.ok(passwords.length >= 4, `outputs with passwords: ${passwords.map(([k]) => k)}`);
        // What every program PostgreSQL starts (archive_command, COPY ... FROM PROGRAM) inherits: its real
        // environment. (/proc/<pid>/environ of a PostgreSQL process is no use: PostgreSQL overwrites that
        // memory with its process title.)
        const su = d.outputs.superuserConnectionString;
        await query(su, "DROP TABLE IF EXISTS env_probe");
        await query(su, "CREATE TABLE env_probe (line text)");
        await query(su, "COPY env_probe FROM PROGRAM 'env'");
        const lines = (await query<{ line: string }>(su, "SELECT line FROM env_probe")).map(r => r.line);
        await query(su, "DROP TABLE env_probe");
        assert.ok(lines.includes("PG_VERSION=15") && lines.some(l => l.startsWith("ROLE_PASSWORDS_FILE=")), "the environment was read");
        for (const [name, value] of passwords) {
            assert.ok(!lines.some(l => l.includes(value)), `${name} in PostgreSQL's environment`);
        }
        assert.deepEqual(
            lines.filter(l => /(PASSWORD|_KEY_B64)$/.test(l.split("=")[0])),
            [],
            "no password variable at all",
        );
        for (let n = 1; n <= 4; n++) {
            const node = `${STACK}-db${n}`;
            const mount = await docker(["exec", node, "sh", "-c", "findmnt -no FSTYPE /tmp; stat -c %a /tmp/role-passwords"]);
            assert.deepEqual(mount.split("\n"), ["tmpfs", "600"], `db${n}`);
            // `docker inspect` shows the container's configuration, environment included: no password, no key.
            const inspect = await docker(["inspect", node]);
            for (const [name, value] of passwords) {
                assert.ok(!inspect.includes(value), `${name} in docker inspect of db${n}`);
            }
            assert.doesNotMatch(inspect, /PASSWORD=|_KEY_B64=/, `db${n}: no secret variable in docker inspect`);
            // The secret file: in a directory only postgres may enter.
            const dir = await docker(["exec", node, "stat", "-c", "%a %U", SECRET_DIR]);
            assert.equal(dir, "700 postgres", `db${n}: ${SECRET_DIR}`);
            const other = await dockerExec(node, ["cat", SECRET_ENV], { user: "nobody", allowFail: true });
            assert.notEqual(other.code, 0, `db${n}: another user read the secret file`);
        }
        // Every other container of the stack (Barman, the exporter, HAProxy with its stats password, etcd and the
        // sentinel with their TLS keys): secrets in their secret files, not in docker inspect.
        const all = (await docker(["ps", "-a", "--filter", `label=patroni-ha.stack=${STACK}`, "--format", "{{.Names}}"])).split("\n");
        const others = all.filter(c => !/-db\d+$/.test(c));
        assert.deepEqual(others.map(c => c.replace(`${STACK}-`, "")).sort(), [
            "barman",
            "etcd1",
            "etcd2",
            "etcd3",
            "exporter",
            "haproxy",
            "sentinel",
        ]);
        for (const part of others) {
            const inspect = await docker(["inspect", part]);
            for (const [name, value] of passwords) {
                assert.ok(!inspect.includes(value), `${name} in docker inspect of ${part}`);
            }
            assert.doesNotMatch(
                inspect,
                /PASSWORD=|_KEY_B64=|DATA_SOURCE_NAME=|PRIVATE KEY/,
                `${part}: no secret variable in docker inspect`,
            );
        }
        // (Test 4 logs in to HAProxy's stats page with the password it now reads from its secret file.)
    });

    it("3j. no password or key in any process's argv, in any container, while the stack bootstraps", async () => {
        const { commandLines, samples } = bootstrapArgv;
        const secrets = Object.entries(d.outputs).filter(([k, v]) => /Password$/.test(k) && typeof v === "string") as [string, string][];
        secrets.push(["app", decodeURIComponent(new URL(d.outputs.writeConnectionString).password)]);
        assert.ok(secrets.length >= 4, `outputs with passwords: ${secrets.map(([k]) => k)}`);
        // The bootstrap was seen: etcd, Patroni, PostgreSQL's postmaster and HAProxy in their containers.
        for (const expected of [/^etcd --name=etcd1 /, /patroni \/etc\/patroni\/patroni\.yml/, /postgres -D /, /^haproxy /]) {
            assert.ok(
                [...commandLines].some(c => expected.test(c)),
                `never saw ${expected} in ${samples} samples`,
            );
        }
        log(`argv scan: ${samples} samples, ${commandLines.size} distinct command lines`);
        for (const [name, value] of secrets) {
            const hits = [...commandLines].filter(c => c.includes(value));
            assert.deepEqual(hits, [], `${name} in a command line`);
        }
        const keys = [...commandLines].filter(c => /PRIVATE KEY|KEY_B64=|PASSWORD=/.test(c));
        assert.deepEqual(keys, [], "a key or a password variable in a command line");
    });

    it("3f. etcd takes only the stack's certificates: no read or write without one or with another CA's, from the host or the stack network; its port is not published", async () => {
        const spec = parseConfig(config, STACK).spec;
        const archiveCommands = async () => Promise.all(spec.members.map(m => nodeSql(`${STACK}-${m.name}`, "SHOW archive_command")));
        const before = await archiveCommands();
        const configKey = Buffer.from(`/service/${STACK}/config`).toString("base64");
        const evil = Buffer.from(JSON.stringify({ postgresql: { parameters: { archive_command: "touch /tmp/pwned" } } })).toString(
            "base64",
        );
        const put = JSON.stringify({ key: configKey, value: evil });
        // A client certificate from another CA, with every usage etcd could want.
        const { key: clientKey, cert: clientCert } = foreignClientIdentity();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "intruder-"));
        fs.writeFileSync(path.join(dir, "key.pem"), clientKey);
        fs.writeFileSync(path.join(dir, "cert.pem"), clientCert);
        fs.chmodSync(dir, 0o755);
        fs.chmodSync(path.join(dir, "key.pem"), 0o644);
        const etcdImage = await docker(["inspect", "-f", "{{.Config.Image}}", `${STACK}-etcd1`]);
        try {
            for (const e of spec.etcd) {
                assert.equal(await docker(["port", `${STACK}-${e.name}`]), "", `${e.name} publishes nothing`);
                const attempts: [string, string[]][] = [
                    ["plain HTTP", [`http://${e.address}:2379/v3/kv/put`]],
                    ["TLS without a certificate", ["-k", `https://${e.address}:2379/v3/kv/put`]],
                    [
                        "another CA's certificate",
                        ["-k", "--cert", "/intruder/cert.pem", "--key", "/intruder/key.pem", `https://${e.address}:2379/v3/kv/put`],
                    ],
                ];
                for (const [what, args] of attempts) {
                    const curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--data-binary", put, ...args];
                    // From the host, and from a throw-away container on the stack network.
                    const fromHost = run(
                        curl[0],
                        curl.slice(1).map(a => a.replace("/intruder/", `${dir}/`)),
                        { allowFail: true },
                    );
                    const fromNetwork = run(
                        "docker",
                        [
                            "run",
                            "--rm",
                            "--network",
                            `${STACK}-net`,
                            "-v",
                            `${dir}:/intruder:ro`,
                            "--entrypoint",
                            "curl",
                            etcdImage,
                            ...curl.slice(1),
                        ],
                        { allowFail: true },
                    );
                    for (const [where, r] of [
                        ["host", await fromHost],
                        ["stack network", await fromNetwork],
                    ] as const) {
                        assert.notEqual(r.stdout.trim(), "200", `${e.name}, ${what}, from the ${where}: etcd accepted the write`);
                        log(
                            `etcd ${e.name} ${what} from the ${where}: ${r.stdout.trim() === "000" ? "refused" : `HTTP ${r.stdout.trim()}`} (${r.stderr.trim().slice(0, 100)})`,
                        );
                    }
                }
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        // The stack's own path works: a read inside a member with its certificate.
        const own = await run("docker", ["exec", "-i", `${STACK}-etcd1`, "etcd-v3", "kv/range"], {
            input: JSON.stringify({ key: configKey }),
        });
        assert.match(JSON.parse(own.stdout).kvs?.[0]?.key ?? "", /./, "the stack reads its config");
        assert.doesNotMatch(Buffer.from(JSON.parse(own.stdout).kvs[0].value, "base64").toString(), /pwned/);
        await new Promise(r => setTimeout(r, 3000));
        assert.deepEqual(await archiveCommands(), before, "archive_command unchanged on every node");
        // Each private key: on a tmpfs, readable by the service's user only.
        for (const c of [`${STACK}-etcd1`, `${STACK}-db1`, `${STACK}-sentinel`]) {
            const probe = c.endsWith("sentinel")
                ? "findmnt -no FSTYPE /run/patroni-ha-tls; ls -A /run/patroni-ha-tls | wc -l"
                : "findmnt -no FSTYPE /run/patroni-ha-tls; stat -c %a /run/patroni-ha-tls/key.pem";
            // The sentinel loads its key and deletes the file at once: nothing stays.
            assert.deepEqual(
                (await docker(["exec", c, "sh", "-c", probe])).split("\n"),
                ["tmpfs", c.endsWith("sentinel") ? "0" : "600"],
                c,
            );
        }
    });

    it("3g. Patroni's unsafe endpoints: 401 without the password from the host, 403 with it from another container on the stack network", async () => {
        const [db1] = memberEndpoints(d.outputs);
        for (const [method, endpoint, body] of [
            ["PATCH", "/config", { ttl: 99 }],
            ["POST", "/switchover", { leader: "db1" }],
            ["POST", "/restart", { restart_pending: true }],
        ] as const) {
            const r = await apiRequest(method, `${db1.apiUrl}${endpoint}`, { body, timeoutMs: 5000 });
            assert.equal(r.status, 401, `${method} ${endpoint} without credentials`);
        }
        // HTTPS only: plain HTTP to the API port gets no answer; and the API's certificate is the stack's.
        assert.ok(db1.apiUrl.startsWith("https://"), db1.apiUrl);
        await assert.rejects(apiRequest("GET", `${db1.apiUrl.replace(/^https:/, "http:")}/health`, { timeoutMs: 5000 }), "plain HTTP");
        await assert.rejects(
            apiRequest("GET", `${db1.apiUrl}/health`, { timeoutMs: 5000, ca: foreignClientIdentity().cert }),
            /certificate/,
            "verified against another CA",
        );
        const address = parseConfig(config, STACK).spec.members[0].address;
        const etcdImage = await docker(["inspect", "-f", "{{.Config.Image}}", `${STACK}-etcd1`]);
        const inside = await run(
            "docker",
            [
                "run",
                "--rm",
                "-i",
                "--network",
                `${STACK}-net`,
                "--entrypoint",
                "sh",
                etcdImage,
                "-c",
                // The password on stdin, not in argv.
                // -k: this container has no copy of the CA; the point here is the allowlist.
                `read -r pw; curl -ksS -o /dev/null -w '%{http_code}' -u "patroni:$pw" -X POST -d '{"restart_pending": true}' https://${address}:${API_PORT}/restart`,
            ],
            { input: `${d.outputs.patroniApiPassword}\n`, allowFail: true },
        );
        assert.equal(inside.stdout.trim(), "403", `POST /restart with the password from another container: ${inside.stderr}`);
        const config0 = (await getJson(`${db1.apiUrl}/config`)) as { ttl: number };
        assert.notEqual(config0.ttl, 99, "the unauthenticated PATCH changed nothing");
    });

    it("3i. networks by role: only etcd, the nodes and the sentinel join the stack network; from the service network etcd answers on its metrics port only", async () => {
        const spec = parseConfig(config, STACK).spec;
        const joined = async (container: string) =>
            (await docker(["inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}", container]))
                .trim()
                .split(" ")
                .sort();
        const stackNet = `${STACK}-net`,
            serviceNet = `${STACK}-services`;
        // The engine's view of every container.
        for (const [role, address] of [
            ["haproxy", spec.addresses.haproxy],
            ["barman", spec.addresses.barman],
            ["exporter", spec.addresses.exporter],
        ]) {
            assert.deepEqual(await joined(`${STACK}-${role}`), [`${serviceNet}=${address}`], role);
        }
        assert.deepEqual(await joined(`${STACK}-sentinel`), [`${stackNet}=${spec.clusterAddresses.sentinel}`], "sentinel");
        for (const m of [...spec.etcd, ...spec.members]) {
            assert.deepEqual(await joined(`${STACK}-${m.name}`), [`${stackNet}=${m.address}`, `${serviceNet}=${m.serviceAddress}`], m.name);
        }
        // Probes from a throw-away container on each network: curl's exit code tells a port that answers
        // (TLS or HTTP errors: 35, 56, 60, 22, ... or 0) from one that is closed (7) or out of reach (28).
        const etcdImage = await docker(["inspect", "-f", "{{.Config.Image}}", `${STACK}-etcd1`]);
        const probe = async (network: string, urls: string[]) => {
            const script = urls.map(u => `curl -ksS -o /dev/null --connect-timeout 3 --max-time 5 ${u} 2>/dev/null; echo $?`).join("; ");
            const r = await run("docker", ["run", "--rm", "--network", network, "--entrypoint", "sh", etcdImage, "-c", script], {
                allowFail: true,
            });
            return r.stdout.trim().split("\n").map(Number);
        };
        const unreachable = (code: number) => code === 7 || code === 28;
        for (const e of spec.etcd) {
            const fromService = await probe(serviceNet, [
                `https://${e.serviceAddress}:2379/health`,
                `https://${e.serviceAddress}:2380/`,
                `https://${e.address}:2379/health`,
                `http://${e.serviceAddress}:2381/metrics`,
            ]);
            log(
                `${e.name} from the service network: client ${fromService[0]}, peer ${fromService[1]}, stack address ${fromService[2]}, metrics ${fromService[3]}`,
            );
            assert.ok(unreachable(fromService[0]), `${e.name}'s client port answers on the service network (curl ${fromService[0]})`);
            assert.ok(unreachable(fromService[1]), `${e.name}'s peer port answers on the service network (curl ${fromService[1]})`);
            assert.ok(
                unreachable(fromService[2]),
                `${e.name}'s stack-network address is reachable from the service network (curl ${fromService[2]})`,
            );
            assert.equal(fromService[3], 0, `${e.name}'s metrics on the service network (Prometheus's path)`);
            // The same probe on the stack network reaches the client port (the TLS handshake fails without a
            // client certificate, or the request does): the probe can tell the difference.
            const fromStack = await probe(stackNet, [`https://${e.address}:2379/health`]);
            assert.ok(!unreachable(fromStack[0]), `${e.name}'s client port on the stack network (curl ${fromStack[0]})`);
        }
        // The nodes' PostgreSQL and REST API answer on the service network (HAProxy's and Prometheus's path).
        const [node] = await probe(serviceNet, [`https://${spec.members[0].serviceAddress}:${API_PORT}/health`]);
        assert.ok(!unreachable(node), `db1's REST API on the service network (curl ${node})`);
    });

    it("3h. PostgreSQL: TLS on every hop; plain connections and another CA's client certificate refused, through HAProxy and on a node", async () => {
        const o = d.outputs;
        // sslmode=disable, the right password: pg_hba's hostnossl line refuses it.
        const plainConnect = async (cs: string) => {
            const u = new URL(cs);
            u.search = "sslmode=disable";
            const client = new Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
            client.on("error", () => undefined);
            await client.connect(); // (end() after a failed connect never settles: nothing to end)
            await client.end();
        };
        for (const [where, cs] of [
            ["the write port", o.writeConnectionString],
            ["db1's published port", directTo(d, config, 1)],
        ]) {
            await assert.rejects(
                plainConnect(cs),
                /pg_hba\.conf rejects connection .*no encryption/,
                `a plain connection through ${where}`,
            );
            // Verified TLS (the connection string as given): the certificate names the address dialled.
            const [r] = await query<{ ssl: boolean }>(cs, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
            assert.equal(r.ssl, true, where);
        }
        const [viaRead] = await query<{ ssl: boolean }>(o.readConnectionString, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        assert.equal(viaRead.ssl, true, "the read port");
        // A client certificate from another CA: the handshake fails before any password is asked.
        const intruder = foreignClientIdentity();
        const withCert = new Client({
            ...pg(o.writeConnectionString, { connectionTimeoutMillis: 5000 }),
            ssl: { ...(pg(o.writeConnectionString).ssl as object), key: intruder.key, cert: intruder.cert },
        });
        withCert.on("error", () => undefined);
        await assert.rejects(withCert.connect(), /certificate|unknown ca|alert/i, "another CA's client certificate");
        // The exporter reads PostgreSQL with verify-full (a scrape first, so its session is open).
        const metrics = await (await fetch(o.metricsUrls.postgres)).text();
        assert.match(metrics, /^pg_up 1$/m, "the exporter connects");
        // Every TCP session on the leader is encrypted: the replicas, Barman's WAL streaming, the exporter.
        const sessions = await query<{ application_name: string; backend_type: string; ssl: boolean }>(
            o.superuserConnectionString,
            "SELECT a.application_name, a.backend_type, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.client_addr IS NOT NULL",
        );
        const names = sessions.map(x => `${x.backend_type}:${x.application_name}`);
        assert.deepEqual(
            sessions.filter(x => !x.ssl).map(x => `${x.backend_type}:${x.application_name}`),
            [],
            `plain sessions among ${names.join(", ")}`,
        );
        assert.ok(sessions.filter(x => x.backend_type === "walsender").length >= 3, `replicas stream over TLS: ${names.join(", ")}`);
        assert.ok(names.includes("client backend:exporter"), `the exporter connects over TLS: ${names.join(", ")}`);
    });

    it("3d. pg_hba: the superuser only through the write port, replication only from the nodes, the application's role anywhere", async () => {
        const refused = (e: Error) => /pg_hba\.conf rejects/.test(e.message);
        const [su] = await query<{ u: string }>(d.outputs.superuserConnectionString, "SELECT current_user AS u");
        assert.equal(su.u, "postgres", "the superuser through the write port (superuserConnectionString)");
        for (let n = 1; n <= 4; n++) {
            await assert.rejects(query(directTo(d, config, n, "superuser"), "SELECT 1"), refused, `superuser on db${n}'s published port`);
            const [app] = await query<{ u: string }>(directTo(d, config, n), "SELECT current_user AS u");
            assert.equal(app.u, "app", `the application's role on db${n}'s published port`);
        }
        // A replication connection from the host (Docker's proxy for the published port) is refused before any password.
        const [db1] = parseConfig(config, STACK).spec.members;
        await assert.rejects(
            query(
                `postgresql://replicator:wrong@${db1.postgresEndpoint}/postgres?replication=database&${new URL(d.outputs.superuserConnectionString).searchParams}`,
                "IDENTIFY_SYSTEM",
            ),
            refused,
            "replication from outside the nodes",
        );
        // From another container (Barman's, on the service network): the superuser is refused, the application's role is not.
        const psqlFromBarman = (user: string, password: string) =>
            run(
                "docker",
                [
                    "exec",
                    "-i",
                    d.outputs.barmanContainer,
                    "sh",
                    "-c",
                    `read -r PGPASSWORD; export PGPASSWORD; exec psql -X -qtA "host=${db1.serviceAddress} port=${PG_PORT} user=${user} dbname=${user === "postgres" ? "postgres" : "app"} sslmode=verify-full sslrootcert=${TLS_FILES.ca}" -c "SELECT current_user"`,
                ],
                { input: `${password}\n`, allowFail: true },
            );
        const asSuperuser = await psqlFromBarman("postgres", d.outputs.superuserPassword);
        assert.notEqual(asSuperuser.code, 0);
        assert.match(asSuperuser.stderr, /pg_hba\.conf rejects connection for host "10\.[\d.]+", user "postgres"/);
        const appPassword = decodeURIComponent(new URL(d.outputs.writeConnectionString).password);
        const asApp = await psqlFromBarman("app", appPassword);
        assert.equal(asApp.stdout.trim(), "app", asApp.stderr);
    });

    it("3b. README's Quickstart connect lines work as written (npm run output through a stand-in pulumi holding this stack's outputs)", async () => {
        // The Pulumi CLI cannot be installed here: a stand-in on PATH answers `pulumi stack output NAME
        // --show-secrets` from the harness's outputs; everything else (npm, the wrapper, psql) is real.
        const readme = fs.readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");
        const lines = [...readme.matchAll(/^psql "\$\(npm run --silent output -- (\w+)\)".*$/gm)];
        assert.deepEqual(
            lines.map(m => m[1]),
            ["writeConnectionString", "readConnectionString", "superuserConnectionString"],
        );
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "quickstart-"));
        const outputsFile = path.join(bin, "outputs.json");
        fs.writeFileSync(outputsFile, JSON.stringify(d.outputs), { mode: 0o600 });
        fs.writeFileSync(
            path.join(bin, "pulumi"),
            [
                "#!/bin/sh",
                '[ "$1 $2" = "stack select" ] && exit 0',
                'if [ "$1 $2" = "stack output" ] && [ "$4" = --show-secrets ]; then',
                `    exec node -e 'const o = require(process.argv[1]); if (!(process.argv[2] in o)) process.exit(1); console.log(o[process.argv[2]])' ${outputsFile} "$3"`,
                "fi",
                'echo "unexpected: pulumi $*" >&2; exit 3',
                "",
            ].join("\n"),
            { mode: 0o700 },
        );
        // First the line that saves the CA the connection strings name (in the project folder, as a user would).
        const saveCa = /^npm run --silent output -- caCertificate > .*$/m.exec(readme);
        assert.ok(saveCa, "README saves caCertificate before connecting");
        const cwd = path.join(__dirname, "..", "..");
        const caFile = path.join(cwd, d.outputs.caCertificateFile!);
        const sh = (line: string, input = "") =>
            spawnSync("bash", ["-c", line], {
                cwd,
                input,
                encoding: "utf8",
                env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, PULUMI_CONFIG_PASSPHRASE: "quickstart-test" },
            });
        try {
            const saved = sh(saveCa[0]);
            assert.equal(saved.status, 0, `${saveCa[0]}: ${saved.stdout}${saved.stderr}`);
            assert.equal(fs.readFileSync(caFile, "utf8").trim(), d.outputs.caCertificate!.trim());
            const answers = lines.map(m => {
                const r = sh(
                    m[0],
                    "SELECT current_user || ' ' || pg_is_in_recovery() || ' ' || (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid());\n",
                );
                assert.equal(r.status, 0, `${m[0]}: ${r.stdout}${r.stderr}`);
                return /^\s*(\w+ (?:true|false) (?:true|false))\s*$/m.exec(r.stdout)?.[1];
            });
            const app = decodeURIComponent(new URL(d.outputs.writeConnectionString).username);
            assert.deepEqual(
                answers,
                [`${app} false true`, `${app} true true`, "postgres false true"],
                "leader, replica, superuser on the leader, each over TLS",
            );
        } finally {
            fs.rmSync(bin, { recursive: true });
            fs.rmSync(caFile, { force: true });
        }
    });

    it("4. the stats page is HTTPS and needs credentials, and shows the leader UP in write, replicas UP in read", async () => {
        // HTTPS with HAProxy's certificate from the stack CA; plain HTTP gets no page.
        assert.ok(d.outputs.statsUrl.startsWith("https://"), d.outputs.statsUrl);
        const plain = await httpRequest("GET", d.outputs.statsUrl.replace(/^https:/, "http:"), { timeoutMs: 5000 }).catch(() => undefined);
        assert.notEqual(plain?.status, 200, "the stats page over plain HTTP");
        const anonymous = await httpRequest("GET", d.outputs.statsUrl);
        assert.equal(anonymous.status, 401);
        const auth = `Basic ${Buffer.from(`${d.outputs.statsUser}:${d.outputs.statsPassword}`).toString("base64")}`;
        const l = await leader(d.outputs);
        await waitFor("HAProxy to agree with Patroni", 30, async () => {
            const csv = (await httpRequest("GET", `${d.outputs.statsUrl};csv`, { headers: { authorization: auth } })).text;
            const status = (backend: string, server: string) =>
                csv
                    .split("\n")
                    .find(line => line.startsWith(`${backend},${server},`))
                    ?.split(",")[17];
            return ["db1", "db2", "db3", "db4"].every(
                n => status("primary", n) === (n === l.name ? "UP" : "DOWN") && status("replicas", n) === (n === l.name ? "DOWN" : "UP"),
            );
        });
    });

    it("metrics: every endpoint of metricsUrls answers with the expected metric names", async () => {
        const urls = d.outputs.metricsUrls;
        const text = async (url: string) => {
            // Patroni's over HTTPS, verified against the stack CA (trusted from the outputs, as the operator commands do).
            const r = await httpRequest("GET", url);
            assert.equal(r.status, 200, url);
            return r.text;
        };
        assert.ok(
            urls.patroni.every(u => u.startsWith("https://")),
            urls.patroni.join(" "),
        );
        for (const url of urls.patroni) {
            const body = await text(url);
            for (const m of ["patroni_postgres_running", "patroni_primary", "patroni_xlog_location"]) {
                assert.match(body, new RegExp(`^${m}`, "m"), `${url} lacks ${m}`);
            }
        }
        const hp = await text(urls.haproxy);
        for (const m of ["haproxy_server_status", "haproxy_backend_active_servers", "haproxy_frontend_current_sessions"]) {
            assert.match(hp, new RegExp(`^${m}`, "m"), m);
        }
        await waitFor("the PostgreSQL exporter's cluster metrics", 60, async () => {
            const pg = await text(urls.postgres);
            return ["pg_up 1", "pg_replication_lag_bytes{", "pg_archiver_failed_count", "pg_slot_retained_bytes{"].every(m =>
                pg.includes(m),
            );
        });
    });

    // 11. Changing the running stack (the second `pulumi up`).
    let deployedInputs: DynamicConfigState;
    it("11a. a reloadable parameter and ttl reach every node without restarting any container; an operator's pause survives", async () => {
        deployedInputs = deployedDcsInputs(d);
        const before = await containerStarts(STACK);
        // Maintenance mode set the way README shows; the stack's change must not undo it.
        const paused = patronictl("pause", "--wait");
        assert.equal(paused.status, 0, `${paused.stdout}${paused.stderr}`);
        const next = { ...config, patroni: { ...(config.patroni as object), ttl: 25, postgresql: { work_mem: "24MB" } } };
        const news = await plannedDynamicConfig(STACK, next, deployedInputs);
        const diff = await updateDynamicConfig({ ...deployedInputs }, news);
        assert.deepEqual(diff, { changes: true, replaces: [] });
        const afterChange = (await getJson(`${d.outputs.patroniApiUrls[0]}/config`)) as { pause?: boolean; ttl: number };
        assert.equal(afterChange.pause, true, "patronictl pause survives the stack's DCS change");
        assert.equal(afterChange.ttl, 25);
        const resumed = patronictl("resume", "--wait");
        assert.equal(resumed.status, 0, `${resumed.stdout}${resumed.stderr}`);
        for (let n = 1; n <= 4; n++) {
            await waitFor(
                `db${n} work_mem`,
                60,
                async () => (await query<{ w: string }>(directTo(d, next, n), "SELECT current_setting('work_mem') AS w"))[0].w === "24MB",
            );
            const cfg = (await getJson(`${d.outputs.patroniApiUrls[n - 1]}/config`)) as { ttl: number };
            assert.equal(cfg.ttl, 25);
        }
        assert.deepEqual(await containerStarts(STACK), before, "no container may restart");
        deployedInputs = news;
        config = next;
    });

    it("11b. a restart-only parameter is applied by a rolling restart, replicas first, with the write outage measured", async () => {
        const before = await containerStarts(STACK);
        const next = { ...config, patroni: { ...(config.patroni as object), postgresql: { work_mem: "24MB", max_connections: 150 } } };
        await createTable(d.outputs.writeConnectionString, "rolling");
        const writer = startWriter(d.outputs.writeConnectionString, "rolling");
        const news = await plannedDynamicConfig(STACK, next, deployedInputs);
        await new Promise(r => setTimeout(r, 1000));
        const changeAt = Date.now();
        const leaderBefore = await leader(d.outputs);
        await updateDynamicConfig({ ...deployedInputs }, news);
        const doneAt = Date.now();
        await writer.ackedAfter(doneAt).catch(() => undefined);
        const result = await writer.stop();
        assertAckedAround(result, changeAt, doneAt);
        // Replicas first, the leader last: its postmaster started after every replica's.
        const starts = await Promise.all(
            memberEndpoints(d.outputs).map(async m => ({
                name: m.name,
                at: Date.parse(String((await memberStatus(m.apiUrl)).postmaster_start_time)),
            })),
        );
        const leaderStart = starts.find(x => x.name === leaderBefore.name)!.at;
        for (const x of starts) {
            assert.ok(x.at > changeAt, `${x.name} was not restarted`);
        }
        assert.ok(
            starts.every(x => x.at <= leaderStart),
            `the leader ${leaderBefore.name} must restart last: ${JSON.stringify(starts)}`,
        );
        for (let n = 1; n <= 4; n++) {
            const [r] = await query<{ m: string }>(directTo(d, next, n), "SELECT current_setting('max_connections') AS m");
            assert.equal(r.m, "150", `db${n}`);
        }
        const members = await Promise.all(
            d.outputs.patroniApiUrls.map(async u => (await getJson(`${u}/patroni`)) as { pending_restart?: boolean }),
        );
        assert.ok(
            members.every(m => !m.pending_restart),
            "no member still pending a restart",
        );
        assert.deepEqual(await containerStarts(STACK), before, "PostgreSQL restarts inside its container; no container restarts");
        assert.deepEqual(await missingRows(d.outputs.writeConnectionString, "rolling", result.acked), []);
        log(`rolling restart: write outage ${result.outageSeconds.toFixed(2)} s, ${result.failures} failed of ${result.attempts}`);
        console.log(
            `      rolling restart write outage: ${result.outageSeconds.toFixed(2)} s (${result.failures}/${result.attempts} attempts failed)`,
        );
        deployedInputs = news;
        config = next;
    });

    it("11d. a second deploy on the running stack applies only the difference: the same config touches no container; a HAProxy timing change reloads HAProxy in place (no container, a held session survives, never two servers UP for writes); an etcdNodes change is refused", async () => {
        const ids = async () =>
            Object.fromEntries(
                (await docker(["ps", "-a", "--filter", `label=patroni-ha.stack=${STACK}`, "--format", "{{.Names}} {{.ID}}"]))
                    .split("\n")
                    .filter(Boolean)
                    .map(l => l.split(" ")),
            ) as Record<string, string>;
        const changedContainers = (x: Deployed) =>
            x.engine.actions
                .filter(a => a.type === "docker:index/container:Container" && a.action !== "same")
                .map(a => `${a.name} ${a.action}`);
        const before = await ids();
        const same = await deployStack(stackFile(STACK, config), { log, update: true });
        assert.deepEqual(changedContainers(same), []);
        assert.deepEqual(await ids(), before, "no container replaced");
        assert.equal(same.outputs.superuserPassword, d.outputs.superuserPassword, "generated passwords kept");

        // A HAProxy timing change: haproxy.cfg is rewritten inside the running container and HAProxy reloads
        // (master and container kept, a new worker starting from the servers' saved states), under a writer
        // and with a session held open through the write port.
        const next = { ...config, haproxy: { inter: 750, rise: 2 } };
        const inHaproxy = (script: string) => docker(["exec", `${STACK}-haproxy`, "sh", "-c", script]);
        const workerPid = async () =>
            (await inHaproxy('echo "show info" | socat stdio UNIX-CONNECT:$HAPROXY_ADMIN_SOCKET')).match(/^Pid: (\d+)$/m)![1];
        const [masterBefore, workerBefore] = [await inHaproxy("cat $HAPROXY_PID"), await workerPid()];
        const held = new Client(pg(d.outputs.writeConnectionString, { connectionTimeoutMillis: 5000 }));
        held.on("error", () => undefined);
        await held.connect();
        const heldPid = (await held.query<{ p: number }>("SELECT pg_backend_pid() AS p")).rows[0].p;
        await createTable(d.outputs.writeConnectionString, "reload");
        const writer = startWriter(d.outputs.writeConnectionString, "reload");
        // The write pool as HAProxy's stats show it, sampled throughout: never more than one server UP.
        const auth = `Basic ${Buffer.from(`${d.outputs.statsUser}:${d.outputs.statsPassword}`).toString("base64")}`;
        const upInWritePool: string[][] = [];
        let sampling = true;
        const sampler = (async () => {
            while (sampling) {
                const csv = await httpRequest("GET", `${d.outputs.statsUrl};csv`, { headers: { authorization: auth }, timeoutMs: 2000 })
                    .then(r => r.text)
                    .catch(() => "");
                const up = csv
                    .split("\n")
                    .filter(l => l.startsWith("primary,db") && l.split(",")[17] === "UP")
                    .map(l => l.split(",")[1]);
                if (csv) {
                    upInWritePool.push(up);
                }
                await new Promise(resolve => setTimeout(resolve, 100));
            }
        })();
        await writer.ackedAfter(Date.now(), 30000);
        const changeAt = Date.now();
        const changed = await deployStack(stackFile(STACK, next), { log, update: true });
        const doneAt = Date.now();
        await writer.ackedAfter(doneAt, 30000);
        // The new worker's first seconds are when a server would show UP before its first check.
        await new Promise(resolve => setTimeout(resolve, 3000));
        sampling = false;
        await sampler;
        const result = await writer.stop();
        console.log(
            `      HAProxy reload under a writer: ${result.failures}/${result.attempts} attempts failed, longest gap ${result.outageSeconds.toFixed(2)} s`,
        );
        assert.deepEqual(changedContainers(changed), [], "no container replaced for a HAProxy timing");
        assert.deepEqual(
            changed.engine.actions
                .filter(a => a.action !== "same" && !a.type.startsWith("patroni-ha:index:"))
                .map(a => `${a.name} ${a.action}`),
            ["cluster-haproxy-config update"],
            "of the resources (components aside), only haproxy.cfg's",
        );
        assert.deepEqual(await ids(), before, "every container kept");
        assert.equal(await inHaproxy("cat $HAPROXY_PID"), masterBefore, "the same HAProxy master");
        assert.notEqual(await workerPid(), workerBefore, "a new worker: HAProxy reloaded");
        assert.match(await inHaproxy("cat $HAPROXY_CONFIG"), /default-server inter 750 .* rise 2 /);
        assert.ok(upInWritePool.length > 10, `${upInWritePool.length} samples`);
        assert.deepEqual(
            upInWritePool.filter(up => up.length > 1),
            [],
            "never two servers UP in the write pool (the new worker starts from the saved states)",
        );
        // The session opened before the reload is still served (by the old worker) and still the same backend.
        assert.equal((await held.query<{ p: number }>("SELECT pg_backend_pid() AS p")).rows[0].p, heldPid, "the held session survived");
        await held.end();
        assertAckedAround(result, changeAt, doneAt);
        assert.deepEqual(await missingRows(d.outputs.writeConnectionString, "reload", result.acked), []);
        d = changed;
        config = next;

        // etcdNodes on a running stack: refused before any container is touched.
        const idsBefore = await ids();
        await assert.rejects(
            deployStack(stackFile(STACK, { ...config, etcdNodes: 5 }), { log, update: true }),
            /etcdNodes cannot change on a running stack \(from 3 to 5 members\).*Set patroni-ha:etcdNodes back to 3/s,
        );
        assert.deepEqual(await ids(), idsBefore, "no container touched");
    });

    it("11h. drift of a key the stack owns (an operator's edit-config of ttl): a plain deploy leaves it, a refreshing one (`pulumi up --refresh`) shows it as that key's change and patches it back; pause survives", async () => {
        const owned = ((config.patroni as { ttl?: number }).ttl ?? 20) as number;
        const edited = patronictl("edit-config", "--force", "--set", "ttl=41");
        assert.equal(edited.status, 0, `${edited.stdout}${edited.stderr}`);
        const paused = patronictl("pause", "--wait");
        assert.equal(paused.status, 0, `${paused.stdout}${paused.stderr}`);
        const live = async () => (await getJson(`${d.outputs.patroniApiUrls[0]}/config`)) as { ttl: number; pause?: boolean };
        const dcsAction = (x: Deployed) => x.engine.actions.find(a => a.name === "cluster-dcs-config")?.action;
        const plain = await deployStack(stackFile(STACK, config), { log, update: true });
        assert.equal(dcsAction(plain), "same", "without a refresh the state knows no drift");
        assert.equal((await live()).ttl, 41);
        const refreshed = await deployStack(stackFile(STACK, config), { log, update: true, refresh: true });
        assert.equal(dcsAction(refreshed), "update");
        assert.equal((await live()).ttl, owned, "the owned key patched back");
        assert.equal((await live()).pause, true, "a key the stack does not own (pause) left alone");
        const resumed = patronictl("resume", "--wait");
        assert.equal(resumed.status, 0, `${resumed.stdout}${resumed.stderr}`);
        d = refreshed;
    });

    it("11e. a rebuilt Patroni image and an etcd memory limit roll: etcd members one by one (never two down), then three replicas one by one, each streaming before the next, then a switchover, then the old leader, all on the new image; no acknowledged row lost", async () => {
        const nodeIds = () => containerIds(STACK, ["db1", "db2", "db3", "db4"]);
        const idsBefore = await nodeIds();
        const leaderBefore = (await leader(d.outputs)).name;
        const next = { ...config, resources: { etcd: { memoryMb: 256 } } };
        const imageBefore = await docker(["inspect", "-f", "{{.Image}}", `${STACK}-db1`]);
        await createTable(d.outputs.writeConnectionString, "rollout");
        const writer = startWriter(d.outputs.writeConnectionString, "rollout");
        // etcd members running, sampled through the deploy: one at a time means never fewer than 2 of 3.
        let sampling = true;
        const etcdRunning: number[] = [];
        const sampler = (async () => {
            while (sampling) {
                const ids = await docker([
                    "ps",
                    "-q",
                    "--filter",
                    `label=patroni-ha.stack=${STACK}`,
                    "--filter",
                    "label=patroni-ha.role=etcd",
                ]);
                etcdRunning.push(ids.split("\n").filter(Boolean).length);
                await new Promise(r => setTimeout(r, 100));
            }
        })();
        await new Promise(r => setTimeout(r, 1000));
        const changeAt = Date.now();
        // The Patroni image rebuilt (a new image ID), the etcd members' memory limit changed.
        const rolled = await deployStack(stackFile(STACK, next), { log, update: true, rebuild: ["patroni"] });
        const doneAt = Date.now();
        sampling = false;
        await sampler;
        await writer.ackedAfter(doneAt).catch(() => undefined);
        const result = await writer.stop();
        assertAckedAround(result, changeAt, doneAt);
        assert.deepEqual(await missingRows(d.outputs.writeConnectionString, "rollout", result.acked), []);
        const replaced = rolled.engine.actions
            .filter(a => a.type === "docker:index/container:Container" && a.action !== "same")
            .map(a => `${a.name} ${a.action}`);
        const replicas = ["db1", "db2", "db3", "db4"].filter(n => n !== leaderBefore);
        assert.deepEqual(
            replaced,
            [...["etcd1", "etcd2", "etcd3"].map(n => `cluster-etcd-${n}`), ...[...replicas, leaderBefore].map(n => `cluster-${n}`)].map(
                n => `${n} replace`,
            ),
            "etcd members in order, then the replicas in order, the leader last",
        );
        assert.ok(etcdRunning.length > 20, `${etcdRunning.length} samples`);
        assert.equal(Math.min(...etcdRunning), 2, `etcd members running during the deploy: ${etcdRunning.join(" ")}`);
        for (let n = 1; n <= 3; n++) {
            assert.equal(await docker(["inspect", "-f", "{{.HostConfig.Memory}}", `${STACK}-etcd${n}`]), String(256 * 1024 * 1024));
        }
        const idsAfter = await nodeIds();
        for (const n of Object.keys(idsBefore)) {
            assert.notEqual(idsAfter[n], idsBefore[n], `${n}'s container replaced`);
            const image = await docker(["inspect", "-f", "{{.Image}}", `${STACK}-${n}`]);
            assert.ok(
                image !== imageBefore && image === (await docker(["image", "inspect", "-f", "{{.Id}}", `patroni-ha-patroni:${STACK}`])),
                n,
            );
        }
        assert.notEqual((await leader(rolled.outputs)).name, leaderBefore, "handed over before the old leader's container went");
        assert.equal((await streamingReplicas(rolled.outputs)).length, 3, "every replica streams again");
        reportRollingOutage("4 nodes, asynchronous", result, (doneAt - changeAt) / 1000);
        d = rolled;
        config = next;
    });

    it("7. a planned switchover to a named node: it leads, no acknowledged row lost", async () => {
        const old = await leader(d.outputs);
        const target = ["db1", "db2", "db3", "db4"].find(n => n !== old.name)!;
        await createTable(d.outputs.writeConnectionString, "switchover");
        const writer = startWriter(d.outputs.writeConnectionString, "switchover");
        await new Promise(r => setTimeout(r, 1000));
        const switchAt = Date.now();
        // Through the operator command, as on-call would run it.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "outputs-"));
        fs.writeFileSync(path.join(dir, "o.json"), JSON.stringify(d.outputs), { mode: 0o600 });
        const cli = spawnSync("npm", ["run", "--silent", "switchover", "--", "--outputs", path.join(dir, "o.json"), "--to", target], {
            encoding: "utf8",
            cwd: path.resolve(__dirname, "..", ".."),
        });
        fs.rmSync(dir, { recursive: true });
        assert.equal(cli.status, 0, cli.stderr);
        assert.match(cli.stdout, new RegExp(`switched over from ${old.name} to ${target}; .*measured write outage [\\d.]+ s`));
        console.log(`      ${cli.stdout.trim()}`);
        const doneAt = Date.now();
        await writer.ackedAfter(doneAt).catch(() => undefined);
        const result = await writer.stop();
        assertAckedAround(result, switchAt, doneAt);
        assert.equal((await leader(d.outputs)).name, target);
        assert.deepEqual(await missingRows(d.outputs.writeConnectionString, "switchover", result.acked), []);
        assert.ok(
            result.outageSeconds < 30,
            `switchover write outage ${result.outageSeconds} s (liveness ceiling 30 s; the target is in the bench)`,
        );
        console.log(`      switchover write outage: ${result.outageSeconds.toFixed(2)} s`);
        await waitRejoined(d.outputs, old.name, 90);
    });

    it("5. docker kill the leader (asynchronous): writes resume elsewhere; only the old leader's last unreplicated rows may be lost", async () => {
        const old = await leader(d.outputs);
        await createTable(d.outputs.writeConnectionString, "killasync");
        const writer = startWriter(d.outputs.writeConnectionString, "killasync");
        await new Promise(r => setTimeout(r, 1500));
        const killAt = Date.now();
        await docker(["kill", `${STACK}-${old.name}`]);
        const elected = await waitNewLeader(d.outputs, old.name, 120);
        const electedAt = Date.now();
        await writer.ackedAfter(electedAt).catch(() => undefined); // assertAckedAround says what is missing
        const result = await writer.stop();
        assertAckedAround(result, killAt, electedAt);
        assert.notEqual(elected.name, old.name);
        // Asynchronous replication: a row the old leader acknowledged in its last moment may not have reached
        // a replica (the chaos suite's rule too). Any other loss - a row from the new leader, or an old one - is a bug.
        const missing = await missingRows(d.outputs.writeConnectionString, "killasync", result.acked);
        const oldAddress = parseConfig(config, STACK).spec.members.find(m => m.name === old.name)!.address;
        const unexplained = result.acks.filter(a => missing.includes(a.id) && (a.server !== oldAddress || a.at < killAt - 5000));
        assert.deepEqual(unexplained, [], "lost rows not acknowledged by the old leader just before the kill");
        assert.ok(result.outageSeconds < 40, `kill-leader write outage ${result.outageSeconds} s (liveness ceiling 40 s)`);
        console.log(
            `      kill-leader (async) write outage: ${result.outageSeconds.toFixed(2)} s, ${result.acked.length} rows acknowledged, ${missing.length} lost (the old leader's last)`,
        );
    });

    it("6. the old leader, started again, rejoins as a replica (pg_rewind) and streams", async () => {
        // The engine says which container is down: the DCS may still list the killed leader as running until
        // its member key's lease ends, since the failover sentinel hands the leadership on before that.
        const running = await Promise.all(
            ["db1", "db2", "db3", "db4"].map(
                async n => (await docker(["inspect", "-f", "{{.State.Running}}", `${STACK}-${n}`])) === "true",
            ),
        );
        const downs = ["db1", "db2", "db3", "db4"].filter((_, i) => !running[i]);
        assert.equal(downs.length, 1, `exactly one member's container is down after the kill (${downs.join(", ")})`);
        const down = downs[0];
        const startedAt = new Date().toISOString();
        await docker(["start", `${STACK}-${down}`]);
        await waitRejoined(d.outputs, down, 180);
        // The rejoin went through pg_rewind (the killed leader's crash recovery leaves WAL past the fork), and it succeeded.
        const logs = await run("docker", ["logs", "--since", startedAt, `${STACK}-${down}`]);
        const patroniLog = `${logs.stdout}${logs.stderr}`;
        assert.match(patroniLog, /running pg_rewind from db\d/, "Patroni ran pg_rewind against the new leader");
        assert.match(patroniLog, /pg_rewind exit code=0/, "pg_rewind succeeded");
        // It receives the leader's timeline and holds exactly the leader's rows.
        const n = Number(down.replace(/^db/, ""));
        const digest = "SELECT count(*)::text AS n, coalesce(sum(id), 0)::text AS s FROM killasync";
        // The table is the application's (database app): read it as the application role, on the leader and on the node itself.
        const [onLeader] = await query<{ n: string; s: string; tl: string }>(
            d.outputs.writeConnectionString,
            "SELECT count(*)::text AS n, coalesce(sum(id), 0)::text AS s FROM killasync",
        );
        const onNode = directTo(d, config, n);
        assert.ok(Number(onLeader.n) > 0);
        await waitFor(`${down} to hold the leader's rows on the leader's timeline`, 60, async () => {
            const [mine] = await query<{ n: string; s: string }>(onNode, digest);
            const tl = await nodeSql(`${STACK}-${down}`, "SELECT received_tli FROM pg_stat_wal_receiver");
            const leaderTl = (await clusterView(d.outputs)).find(m => m.role === "leader")!.timeline;
            return mine.n === onLeader.n && mine.s === onLeader.s && Number(tl) === leaderTl;
        });
    });

    it("8. with one etcd member killed, writes continue and a leader kill still fails over", async () => {
        await docker(["kill", `${STACK}-etcd1`]);
        await createTable(d.outputs.writeConnectionString, "etcddown");
        await query(d.outputs.writeConnectionString, "INSERT INTO etcddown (id) VALUES (0)");
        const old = await leader(d.outputs);
        const writer = startWriter(d.outputs.writeConnectionString, "etcddown");
        await new Promise(r => setTimeout(r, 1500));
        await docker(["kill", `${STACK}-${old.name}`]);
        await waitNewLeader(d.outputs, old.name, 120);
        await new Promise(r => setTimeout(r, 1500));
        const result = await writer.stop();
        assert.ok(result.acked.length > 0);
        assert.deepEqual(await missingRows(d.outputs.writeConnectionString, "etcddown", result.acked), []);
        assert.ok(
            result.outageSeconds < 40,
            `kill-leader write outage with an etcd member down: ${result.outageSeconds} s (liveness ceiling 40 s)`,
        );
        await docker(["start", `${STACK}-etcd1`, `${STACK}-${old.name}`]);
    });

    it("11f. scaling 4 -> 5 -> 3 nodes: HAProxy keeps its container and process, an established read connection survives; a leader on a removed node hands over first; no acknowledged row lost", async () => {
        const haproxy = async () => docker(["inspect", "-f", "{{.Id}} {{.State.Pid}}", `${STACK}-haproxy`]);
        const haproxyBefore = await haproxy();
        // Read connections to the nodes that stay (db1 … db3), held open through both deploys. One on the node
        // that becomes leader when db4 goes is cut on purpose (HAProxy shuts a server's sessions when it leaves
        // the read pool), so every other one must survive.
        // Every replica back in the read pool first (a node rejoining after test 8 may still be DOWN there).
        await waitFor("every streaming replica UP in HAProxy's read pool", 120, async () => {
            const streaming = await streamingReplicas(d.outputs);
            const pool = await haproxyStatus(d.outputs, "replicas");
            return streaming.length === 3 && streaming.every(n => pool[Number(n.slice(2)) - 1] === "UP");
        });
        const readers: { client: Client; address: string }[] = [];
        for (let i = 0; i < 12; i++) {
            const c = new Client(pg(d.outputs.readConnectionString));
            // Its loss is what the assertions below report, not an uncaught error in a later test.
            c.on("error", () => undefined);
            await c.connect();
            const [{ a }] = (await c.query("SELECT host(inet_server_addr()) AS a")).rows;
            if (["db1", "db2", "db3"].some(n => a === nodeAddress(n))) {
                readers.push({ client: c, address: a });
            } else {
                await c.end();
            }
        }
        assert.ok(readers.length > 0, "no read connection landed on db1 … db3");
        const reader = readers[0].client;
        const others = (x: Deployed) =>
            x.engine.actions
                .filter(a => a.type === "docker:index/container:Container" && a.action !== "same")
                .map(a => `${a.name} ${a.action}`);

        const five = await deployStack(stackFile(STACK, { ...config, patroniNodes: 5 }), { log, update: true });
        assert.ok(others(five).includes("cluster-db5 create"), others(five).join(", "));
        assert.ok(
            !others(five).some(a => /cluster-(db[1-4]|haproxy-container) /.test(a)),
            `no other node, nor HAProxy: ${others(five).join(", ")}`,
        );
        assert.ok(!others(five).some(a => /sentinel/.test(a)), `nor the failover sentinel: ${others(five).join(", ")}`);
        await waitFor(
            "db5 streaming and UP in HAProxy's read backend",
            120,
            async () =>
                (await streamingReplicas(five.outputs)).includes("db5") && (await haproxyStatus(five.outputs, "replicas"))[4] === "UP",
        );
        assert.equal(await haproxy(), haproxyBefore, "HAProxy's container and process unchanged");
        await reader.query("SELECT 1");

        // Down to 3, with the leadership on a node that goes (db4): the deploy hands it over before removing it.
        if ((await leader(five.outputs)).name !== "db4") {
            await switchover(five.outputs, "db4");
        }
        await createTable(five.outputs.writeConnectionString, "scaledown");
        const writer = startWriter(five.outputs.writeConnectionString, "scaledown");
        await new Promise(r => setTimeout(r, 1000));
        const changeAt = Date.now();
        const three = await deployStack(stackFile(STACK, { ...config, patroniNodes: 3 }), { log, update: true });
        const doneAt = Date.now();
        await writer.ackedAfter(doneAt).catch(() => undefined);
        const result = await writer.stop();
        assertAckedAround(result, changeAt, doneAt);
        assert.deepEqual(await missingRows(three.outputs.writeConnectionString, "scaledown", result.acked), []);
        assert.deepEqual(
            three.engine.actions
                .filter(a => /cluster-db[45]$/.test(a.name))
                .map(a => `${a.name} ${a.action}`)
                .sort(),
            ["cluster-db4 delete", "cluster-db5 delete"],
        );
        assert.ok(["db1", "db2", "db3"].includes((await leader(three.outputs)).name));
        assert.equal(await haproxy(), haproxyBefore, "HAProxy's container and process unchanged");
        const newLeader = nodeAddress((await leader(three.outputs)).name);
        const kept = readers.filter(r => r.address !== newLeader);
        assert.ok(kept.length > 0, `every read connection was on the new leader ${newLeader}`);
        for (const r of kept) {
            const [{ a }] = (await r.client.query("SELECT host(inet_server_addr()) AS a")).rows;
            assert.equal(a, r.address, "the read connection still on its replica");
        }
        await Promise.all(readers.map(r => r.client.end().catch(() => undefined)));
        assert.equal((await streamingReplicas(three.outputs)).length, 2);
        console.log(`      scale-down with the leader on a removed node: write outage ${result.outageSeconds.toFixed(2)} s`);
        d = three;
        config = { ...config, patroniNodes: 3 };
    });

    it("9. teardown leaves no container, network or volume of the stack", async () => {
        await destroyStack(STACK);
        for (const kind of [
            ["ps", "-aq"],
            ["volume", "ls", "-q"],
            ["network", "ls", "-q"],
        ]) {
            assert.equal(await docker([...kind, "--filter", `label=patroni-ha.stack=${STACK}`]), "", kind.join(" "));
        }
    });
});
