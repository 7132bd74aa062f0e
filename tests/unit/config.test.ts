import { strict as assert } from "assert";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { ConfigError, defaultSubnet, OWNED_PARAMETERS, parseConfig, PROFILES, rawFromPulumiConfig } from "../../config";
import { defaultOf, defaultServiceSubnet, renderConfigTable, SCHEMA } from "../../configSchema";

/** The problems parseConfig reports for a config (fails the test if it accepts it). */
function problems(raw: Record<string, unknown>, stack = "test"): string[] {
    try {
        parseConfig(raw, stack);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
        return e.problems;
    }
    assert.fail(`config was accepted: ${JSON.stringify(raw)}`);
}

function rejects(raw: Record<string, unknown>, key: string, ...fragments: string[]) {
    const found = problems(raw);
    const hit = found.find(p => p.startsWith(key));
    assert.ok(hit, `no problem names ${key}; got:\n${found.join("\n")}`);
    for (const f of fragments) {
        assert.ok(hit.includes(f), `problem for ${key} lacks "${f}": ${hit}`);
    }
}

describe("config: defaults", () => {
    it("an empty config gives 4 nodes, 3 etcd members, the fast profile and synchronous replication", () => {
        const { spec, warnings } = parseConfig({}, "dev");
        assert.equal(spec.patroniNodes, 4);
        assert.equal(spec.etcdNodes, 3);
        assert.equal(spec.baseImage, "debian:bookworm-slim");
        assert.equal(spec.bindAddress, "127.0.0.1");
        assert.deepEqual(spec.ports, {
            write: 5551,
            read: 5552,
            stats: 5553,
            postgresBase: 15430,
            apiBase: 8000,
            etcdBase: 23790,
            publishEtcd: false,
            pitr: 5554,
            metrics: 9187,
            barmanMetrics: 9780,
            prometheus: 9090,
            alertmanager: 9093,
            sentinelMetrics: 9781,
        });
        assert.deepEqual(spec.tls, { enabled: true, validityDays: 365 });
        assert.deepEqual(
            spec.etcd.map(e => e.clientUrl),
            [undefined, undefined, undefined],
            "etcd is not published by default",
        );
        assert.equal(spec.sentinel, true, "the failover sentinel runs with the fast profile");
        assert.equal(parseConfig({ profile: "conservative" }, "dev").spec.sentinel, false, "and not with conservative");
        assert.equal(parseConfig({ sentinel: "" }, "dev").spec.sentinel, true, "empty: the profile's");
        assert.equal(parseConfig({ profile: "seed", sentinel: "true" }, "dev").spec.sentinel, true);
        assert.throws(() => parseConfig({ sentinel: "yes" }, "dev"), /sentinel: must be true or false \(given "yes"\)/);
        assert.deepEqual(spec.alertmanager, { webhookUrl: "" }, "no Alertmanager unless a webhook is given");
        assert.equal(spec.profile, "fast");
        assert.deepEqual([spec.patroni.ttl, spec.patroni.loopWait, spec.patroni.retryTimeout, spec.patroni.failsafeMode], [20, 8, 6, true]);
        assert.deepEqual(spec.haproxy, { inter: 500, fastinter: 250, downinter: 500, rise: 1, fall: 2, maxconn: 100 });
        assert.equal(spec.patroni.maximumLagOnFailover, 1048576);
        assert.equal(spec.patroni.synchronousMode, "on");
        assert.deepEqual(spec.app, { database: "app", user: "app" });
        assert.equal(spec.subnet, defaultSubnet("dev"));
        assert.deepEqual(warnings, []);
    });

    it("derives a different subnet per stack name, and fixed addresses from it", () => {
        assert.notEqual(defaultSubnet("dev"), defaultSubnet("prod"));
        assert.notEqual(defaultServiceSubnet("dev"), defaultServiceSubnet("prod"));
        assert.equal(parseConfig({}, "dev").spec.serviceSubnet, defaultServiceSubnet("dev"));
        assert.equal(defaultServiceSubnet("dev"), defaultSubnet("dev").replace("10.213.", "10.214."));
        const { spec } = parseConfig({ subnet: "10.50.0.0/24", serviceSubnet: "10.51.0.0/24", patroniNodes: 3, etcdNodes: 5 }, "x");
        // The stack network: etcd, the nodes (and the sentinel); the service network: everything else.
        assert.deepEqual(spec.clusterAddresses.gateway, "10.50.0.1");
        assert.deepEqual(spec.clusterAddresses.sentinel, "10.50.0.7");
        assert.equal(spec.addresses.gateway, "10.51.0.1");
        assert.equal(spec.addresses.haproxy, "10.51.0.2");
        assert.equal(spec.addresses.barman, "10.51.0.3");
        assert.deepEqual(
            spec.etcd.map(e => [e.address, e.serviceAddress]),
            [11, 12, 13, 14, 15].map(n => [`10.50.0.${n}`, `10.51.0.${n}`]),
        );
        assert.deepEqual(
            spec.members.map(m => [m.address, m.serviceAddress]),
            [21, 22, 23].map(n => [`10.50.0.${n}`, `10.51.0.${n}`]),
        );
        assert.deepEqual(spec.clusterAddresses.memberBlock.slice(0, 2), ["10.50.0.21", "10.50.0.22"]);
        assert.deepEqual(spec.addresses.memberSlots.slice(0, 2), [
            { name: "db1", address: "10.51.0.21" },
            { name: "db2", address: "10.51.0.22" },
        ]);
    });

    it("the two networks must not overlap, and the service network is checked like the stack network", () => {
        const rejects = (raw: Record<string, unknown>, re: RegExp) => assert.throws(() => parseConfig(raw, "x"), re);
        rejects(
            { subnet: "10.50.0.0/24", serviceSubnet: "10.50.0.0/24" },
            /serviceSubnet: 10\.50\.0\.0\/24 overlaps subnet 10\.50\.0\.0\/24/,
        );
        rejects({ subnet: "10.50.0.0/16", serviceSubnet: "10.50.7.0/24" }, /serviceSubnet: .* overlaps subnet/);
        rejects({ subnet: "10.50.7.0/24", serviceSubnet: "10.50.0.0/16" }, /serviceSubnet: .* overlaps subnet/);
        rejects({ serviceSubnet: "10.51.0.0/29" }, /serviceSubnet: 10\.51\.0\.0\/29 is too small/);
        rejects({ serviceSubnet: "10.51.0.1/24" }, /serviceSubnet: .* has host bits set/);
        rejects({ serviceSubnet: "nope" }, /serviceSubnet: must be an IPv4 CIDR/);
        assert.doesNotThrow(() => parseConfig({ subnet: "10.50.0.0/24", serviceSubnet: "10.50.1.0/24" }, "x"));
    });

    it("resolves every member once: names, addresses, host ports and URLs, IPv6 hosts bracketed", () => {
        const { spec } = parseConfig(
            {
                subnet: "10.50.0.0/24",
                serviceSubnet: "10.51.0.0/24",
                patroniNodes: 2,
                etcdNodes: 1,
                adminBindAddress: "::1",
                ports: { apiBase: 9000, postgresBase: 9100, etcdBase: 9200, publishEtcd: true },
            },
            "v6",
        );
        assert.deepEqual(spec.members, [
            {
                name: "db1",
                address: "10.50.0.21",
                serviceAddress: "10.51.0.21",
                hostPostgresPort: 9101,
                hostApiPort: 9001,
                apiUrl: "https://[::1]:9001",
                postgresEndpoint: "[::1]:9101",
            },
            {
                name: "db2",
                address: "10.50.0.22",
                serviceAddress: "10.51.0.22",
                hostPostgresPort: 9102,
                hostApiPort: 9002,
                apiUrl: "https://[::1]:9002",
                postgresEndpoint: "[::1]:9102",
            },
        ]);
        assert.deepEqual(spec.etcd, [
            { name: "etcd1", address: "10.50.0.11", serviceAddress: "10.51.0.11", hostClientPort: 9201, clientUrl: "https://[::1]:9201" },
        ]);
        for (const url of [...spec.members.map(m => m.apiUrl), spec.etcd[0].clientUrl!]) {
            assert.equal(new URL(url).port !== "", true, url);
        }
        assert.equal(
            parseConfig({ adminBindAddress: "::" }, "v6").spec.members[0].apiUrl,
            "https://[::1]:8001",
            "a wildcard binds all; clients use loopback",
        );
        assert.equal(parseConfig({}, "v4").spec.members[3].apiUrl, "https://127.0.0.1:8004");
    });

    it("pins both profiles' values (README's failover table says the same, see the next test)", () => {
        assert.deepEqual(PROFILES.fast, {
            patroni: { ttl: 20, loopWait: 8, retryTimeout: 6, failsafeMode: true },
            haproxy: { inter: 500, fastinter: 250, downinter: 500, rise: 1, fall: 2, maxconn: 100 },
        });
        assert.deepEqual(PROFILES.conservative, {
            patroni: { ttl: 30, loopWait: 10, retryTimeout: 10, failsafeMode: false },
            haproxy: { inter: 2000, fastinter: 1000, downinter: 2000, rise: 2, fall: 3, maxconn: 100 },
        });
        const conservative = parseConfig({ profile: "conservative" }, "t").spec;
        assert.deepEqual(
            [conservative.patroni.ttl, conservative.patroni.loopWait, conservative.patroni.retryTimeout, conservative.patroni.failsafeMode],
            [30, 10, 10, false],
        );
        assert.deepEqual(conservative.haproxy, PROFILES.conservative.haproxy);
    });

    it('"seed", the conservative profile\'s former name, still works and means the same', () => {
        const seed = parseConfig({ profile: "seed" }, "t").spec;
        assert.equal(seed.profile, "conservative");
        assert.deepEqual(seed, { ...parseConfig({ profile: "conservative" }, "t").spec });
    });

    it("docs/failover.md's timings table shows the profiles' values", () => {
        const readme = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "failover.md"), "utf8");
        const row = (label: string) => {
            const line = readme.split("\n").find(l => l.startsWith(`| ${label}`));
            assert.ok(line, `docs/failover.md has no row "${label}"`);
            return line
                .split("|")
                .slice(2, 4)
                .map(c => c.trim());
        };
        assert.ok(readme.includes("\n| | `fast` (default) | `conservative` |\n"), "the header row names the profiles");
        const [fast, conservative] = row("Patroni `ttl` / `loop_wait` / `retry_timeout`");
        const timing = (p: typeof PROFILES.fast) => `${p.patroni.ttl} / ${p.patroni.loopWait} / ${p.patroni.retryTimeout}`;
        assert.deepEqual([fast, conservative], [timing(PROFILES.fast), timing(PROFILES.conservative)]);
        assert.deepEqual(row("`failsafe_mode`"), [
            PROFILES.fast.patroni.failsafeMode ? "on" : "off",
            PROFILES.conservative.patroni.failsafeMode ? "on" : "off",
        ]);
        const checks = (p: typeof PROFILES.fast) =>
            `${p.haproxy.inter} / ${p.haproxy.fastinter} / ${p.haproxy.downinter} ms, ${p.haproxy.rise} / ${p.haproxy.fall}`;
        assert.deepEqual(row("HAProxy `inter`"), [checks(PROFILES.fast), checks(PROFILES.conservative)]);
    });

    it("the conservative profile changes timings, and explicit keys still win", () => {
        const conservative = parseConfig({ profile: "conservative" }, "t").spec;
        assert.equal(conservative.patroni.loopWait, PROFILES.conservative.patroni.loopWait);
        assert.equal(conservative.haproxy.inter, PROFILES.conservative.haproxy.inter);
    });

    it("the fast profile changes timings, and explicit keys still win", () => {
        const fast = parseConfig({ profile: "fast" }, "t").spec;
        assert.equal(fast.patroni.loopWait, PROFILES.fast.patroni.loopWait);
        assert.equal(fast.haproxy.inter, PROFILES.fast.haproxy.inter);
        const mixed = parseConfig({ profile: "fast", patroni: { ttl: 40 }, haproxy: { rise: 3 } }, "t").spec;
        assert.equal(mixed.patroni.ttl, 40);
        assert.equal(mixed.haproxy.rise, 3);
        assert.equal(mixed.patroni.retryTimeout, PROFILES.fast.patroni.retryTimeout);
    });

    it("Pulumi.yaml declares every key with a description and the same defaults as the code", () => {
        const project = yaml.load(fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.yaml"), "utf8")) as {
            config: Record<string, { default: unknown; description?: string; type?: string }>;
        };
        const declared = Object.fromEntries(Object.entries(project.config).map(([k, v]) => [k.replace(/^patroni-ha:/, ""), v]));
        for (const [k, v] of Object.entries(declared)) {
            assert.ok(v.description && v.description.length > 20, `${k} has no description`);
            assert.ok(v.default !== undefined && v.default !== null, `${k} has no default (Pulumi would make it required)`);
        }
        // Every key the validator knows is declared, and the declared defaults parse to the code's defaults.
        const raw = Object.fromEntries(Object.entries(declared).map(([k, v]) => [k, v.default]));
        const fromYaml = parseConfig(raw, "dev").spec;
        assert.deepEqual(fromYaml, parseConfig({}, "dev").spec);
        // Declared exactly the schema's top-level keys; where the default does not depend on the profile, the same value.
        assert.deepEqual(Object.keys(declared).sort(), Object.keys(SCHEMA).sort());
        const ctx = { stack: "dev", profile: "fast" as const, patroniNodes: 4 };
        for (const k of ["ports", "barman", "app", "profile", "prometheus", "patroniNodes", "etcdNodes", "baseImage", "bindAddress"]) {
            assert.deepEqual(declared[k].default, defaultOf(SCHEMA[k], ctx), k);
        }
        const unknown = problems({ ...raw, nonsense: 1 }).filter(p => p.startsWith("nonsense"));
        assert.equal(unknown.length, 1, "the validator must know exactly the declared keys");
    });

    it("docs/configuration.md's table is the schema's (npm run docs:config writes it)", () => {
        const readme = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "configuration.md"), "utf8");
        const table = /<!-- config-table -->\n([\s\S]*?)\n<!-- \/config-table -->/.exec(readme)?.[1];
        assert.ok(table, "docs/configuration.md has no <!-- config-table --> section");
        assert.equal(table, renderConfigTable({ stack: "dev", profile: "fast", patroniNodes: 4 }));
        for (const key of [
            "patroniNodes",
            "ports.postgresBase",
            "patroni.synchronousMode",
            "haproxy.rise",
            "barman.backupSchedule",
            "resources.patroni",
        ]) {
            assert.match(table, new RegExp(`^\\| \`${key.replace(".", "\\.")}\` \\|`, "m"), key);
        }
    });

    it("decodes Pulumi's flat string map and keeps string keys as strings", () => {
        const raw = rawFromPulumiConfig({
            "patroni-ha:patroniNodes": "3",
            "patroni-ha:ports": '{"write":6000}',
            "patroni-ha:bindAddress": "127.0.0.1",
            "aws:region": "x",
        });
        assert.deepEqual(raw, { patroniNodes: 3, ports: { write: 6000 }, bindAddress: "127.0.0.1" });
    });

    it("warns (does not fail) on an even etcd count, saying why", () => {
        const { warnings } = parseConfig({ etcdNodes: 2 }, "t");
        assert.equal(warnings.length, 1);
        assert.match(warnings[0], /etcdNodes is 2.*needs 2 members for quorum.*survives 0 failure/);
    });

    it("barman.mode: streaming by default, rsync with a deploy-time warning about its limits, anything else refused", () => {
        assert.equal(parseConfig({}, "t").spec.barman.mode, "streaming");
        const { spec, warnings } = parseConfig({ barman: { mode: "rsync" } }, "t");
        assert.equal(spec.barman.mode, "rsync");
        assert.equal(warnings.length, 1);
        assert.match(warnings[0], /barman\.mode is "rsync".*archive lags up to archive_timeout.*piles up in every node's pg_wal/);
        assert.throws(
            () => parseConfig({ barman: { mode: "ssh" } }, "t"),
            /barman\.mode: must be one of "streaming", "rsync" \(given "ssh"\)/,
        );
    });
});

describe("config: every problem is reported, naming the key, the value and what is allowed", () => {
    it("counts out of range or not integers", () => {
        rejects({ patroniNodes: 0 }, "patroniNodes", "1 to 9", "0");
        rejects({ patroniNodes: 10 }, "patroniNodes", "10");
        rejects({ patroniNodes: 2.5 }, "patroniNodes", "integer", "2.5");
        rejects({ patroniNodes: "four" }, "patroniNodes", '"four"');
        rejects({ etcdNodes: 8 }, "etcdNodes", "1 to 7", "8");
        rejects({ etcdNodes: 0 }, "etcdNodes");
    });

    it("ports out of range", () => {
        rejects({ ports: { write: 70000 } }, "ports.write", "70000", "1 to 65535");
        rejects({ ports: { stats: 0 } }, "ports.stats", "0");
    });

    it("two published host ports equal, including ports a count implies", () => {
        rejects({ ports: { write: 5552 } }, "ports.read", "5552", "ports.write");
        // db3's REST API would be 8003 = the stats port.
        rejects({ ports: { stats: 8003 } }, "ports.apiBase+3 (db3 REST API)", "8003", "ports.stats");
        rejects({ ports: { postgresBase: 7999 }, patroniNodes: 4 }, "ports.postgresBase+2 (db2 PostgreSQL)", "8001", "db1 REST API");
        assert.doesNotThrow(() => parseConfig({ ports: { stats: 8003 }, patroniNodes: 2 }, "t"));
    });

    it("Patroni's timing rule", () => {
        rejects(
            { patroni: { ttl: 25, loopWait: 10, retryTimeout: 10 } },
            "patroni.ttl",
            "loopWait + 2 * retryTimeout <= ttl",
            "10 + 2 * 10 > 25",
        );
        rejects({ patroni: { ttl: 15, loopWait: 1, retryTimeout: 3 } }, "patroni.ttl", "at least 20");
        rejects({ patroni: { loopWait: 0 } }, "patroni.loopWait", "at least 1");
        rejects({ patroni: { retryTimeout: 2 } }, "patroni.retryTimeout", "at least 3");
        assert.doesNotThrow(() => parseConfig({ patroni: { ttl: 20, loopWait: 2, retryTimeout: 9 } }, "t"));
    });

    it("synchronousMode is off, on, quorum or strict; on by default with a replica, off with one node", () => {
        assert.equal(parseConfig({ patroni: { synchronousMode: "strict" } }, "t").spec.patroni.synchronousMode, "strict");
        assert.equal(parseConfig({ patroni: { synchronousMode: "quorum" } }, "t").spec.patroni.synchronousMode, "quorum");
        assert.equal(parseConfig({ patroni: { synchronousMode: "off" } }, "t").spec.patroni.synchronousMode, "off");
        assert.equal(parseConfig({ patroniNodes: 2 }, "t").spec.patroni.synchronousMode, "on");
        const single = parseConfig({ patroniNodes: 1 }, "t");
        assert.equal(single.spec.patroni.synchronousMode, "off");
        assert.deepEqual(single.warnings, [], "the one-node default needs no warning");
        rejects({ patroni: { synchronousMode: "yes" } }, "patroni.synchronousMode", '"off", "on", "quorum", "strict"', '"yes"');
    });

    it("unknown keys inside object configs and at the top level", () => {
        rejects({ ports: { wirte: 6000 } }, "ports.wirte", "unknown key", "write");
        rejects({ patroni: { tll: 30 } }, "patroni.tll", "unknown key", "ttl");
        rejects({ app: { db: "x" } }, "app.db", "unknown key");
        rejects({ resources: { patroni: { memory: 5 } } }, "resources.patroni.memory", "unknown key", "memoryMb");
        rejects({ patroniNode: 3 }, "patroniNode", "unknown key patroni-ha:patroniNode");
        rejects({ ports: 5551 }, "ports", "must be an object");
    });

    it("alertmanager.webhookUrl: an http(s) URL, and only with Prometheus", () => {
        rejects({ prometheus: true, alertmanager: { webhookUrl: "hooks.example.com" } }, "alertmanager.webhookUrl", "http(s) URL");
        rejects({ alertmanager: { webhookUrl: "https://hooks.example.com/pg" } }, "alertmanager.webhookUrl", "needs prometheus: true");
        const ok = parseConfig({ prometheus: true, alertmanager: { webhookUrl: "https://hooks.example.com/pg?x=1" } }, "t").spec;
        assert.equal(ok.alertmanager.webhookUrl, "https://hooks.example.com/pg?x=1");
        assert.equal(ok.addresses.alertmanager.split(".").pop(), "6");
        // Its port joins the clash check only when it runs.
        rejects(
            { prometheus: true, alertmanager: { webhookUrl: "http://h/x" }, ports: { alertmanager: 9090 } },
            "ports.alertmanager",
            "ports.prometheus",
        );
        assert.doesNotThrow(() => parseConfig({ ports: { alertmanager: 9090 }, prometheus: true }, "t"));
    });

    it("bindAddress and adminBindAddress must be IP addresses", () => {
        rejects({ bindAddress: "localhost" }, "bindAddress", "IP address", '"localhost"');
        rejects({ adminBindAddress: "my-host" }, "adminBindAddress", "IP address", '"my-host"');
        assert.equal(parseConfig({ bindAddress: "0.0.0.0" }, "t").spec.publicHost, "127.0.0.1");
        assert.equal(parseConfig({ adminBindAddress: "::" }, "t").spec.adminHost, "::1");
    });

    it("tls: false (or tls.enabled: false) only with every published port on loopback; the error names the keys", () => {
        for (const off of [{ tls: false }, { tls: "false" }, { tls: { enabled: false } }]) {
            assert.equal(parseConfig(off, "t").spec.tls.enabled, false, JSON.stringify(off));
            assert.equal(parseConfig({ ...off, bindAddress: "127.0.0.2", adminBindAddress: "::1" }, "t").spec.tls.enabled, false);
        }
        assert.deepEqual(parseConfig({ tls: true }, "t").spec.tls, { enabled: true, validityDays: 365 });
        rejects({ tls: false, bindAddress: "0.0.0.0" }, "tls.enabled", "bindAddress is 0.0.0.0", "loopback");
        const both = problems({ tls: { enabled: false, validityDays: 30 }, bindAddress: "10.0.0.5", adminBindAddress: "0.0.0.0" });
        assert.equal(both.length, 1, both.join("\n"));
        assert.match(
            both[0],
            /bindAddress is 10\.0\.0\.5, adminBindAddress is 0\.0\.0\.0 \(set bindAddress and adminBindAddress to 127\.0\.0\.1/,
        );
        rejects({ tls: { enabled: false }, adminBindAddress: "192.0.2.1" }, "tls.enabled", "adminBindAddress is 192.0.2.1");
        assert.doesNotThrow(
            () => parseConfig({ bindAddress: "0.0.0.0", adminBindAddress: "0.0.0.0" }, "t"),
            "TLS on: a warning, not an error",
        );
        rejects({ tls: { enabled: "maybe" } }, "tls.enabled");
    });

    it("admin ports stay on loopback by default, and anything published beyond it is a warning naming the ports", () => {
        const open = parseConfig({ bindAddress: "0.0.0.0" }, "t");
        assert.equal(open.spec.adminBindAddress, "127.0.0.1");
        assert.deepEqual(open.warnings, [
            "bindAddress is 0.0.0.0: the write port 5551 and the read port 5552 are reachable beyond this host " +
                "(SCRAM passwords over verified TLS); firewall them to your applications. Every other port (nodes, REST API, " +
                "etcd, stats, metrics) stays on adminBindAddress 127.0.0.1; earlier versions published them on bindAddress too.",
        ]);
        for (const loopback of ["127.0.0.2", "::1"]) {
            assert.deepEqual(parseConfig({ bindAddress: loopback, adminBindAddress: loopback }, "t").warnings, [], loopback);
        }
        const admin = parseConfig({ adminBindAddress: "10.0.0.5", patroniNodes: 2, etcdNodes: 1 }, "t").warnings;
        assert.equal(admin.length, 1);
        assert.match(
            admin[0],
            /^adminBindAddress is 10\.0\.0\.5: .*every node's PostgreSQL \(15431-15432\), Patroni's REST API \(8001-8002\), HAProxy's stats page \(5553\).*metrics endpoints \(9187, 9780\).*PITR instance \(5554\)/,
        );
        assert.doesNotMatch(admin[0], /Prometheus/, "not deployed, not named");
        assert.doesNotMatch(admin[0], /etcd/, "etcd is not published by default");
        assert.match(
            parseConfig({ adminBindAddress: "10.0.0.5", etcdNodes: 1, ports: { publishEtcd: true } }, "t").warnings[0],
            /etcd \(23791, TLS with client certificates\)/,
        );
        assert.match(parseConfig({ adminBindAddress: "0.0.0.0", prometheus: true }, "t").warnings[0], /Prometheus \(9090\)/);
    });

    it("subnet must be an aligned IPv4 CIDR large enough for the containers", () => {
        rejects({ subnet: "10.1.2.0" }, "subnet", "CIDR", '"10.1.2.0"');
        rejects({ subnet: "10.1.2.0/33" }, "subnet", "CIDR");
        rejects({ subnet: "10.1.2.5/24" }, "subnet", "host bits", "10.1.2.0/24");
        rejects({ subnet: "10.1.2.0/28" }, "subnet", "too small", "/27");
        assert.doesNotThrow(() => parseConfig({ subnet: "10.1.2.0/27", patroniNodes: 9 }, "t"));
    });

    it("PostgreSQL parameters: valid identifiers, and none the stack owns", () => {
        rejects({ patroni: { postgresql: { "work mem": "4MB" } } }, "patroni.postgresql.work mem", "not a valid PostgreSQL parameter name");
        for (const owned of ["port", "listen_addresses", "archive_command", "wal_level", "hot_standby"]) {
            assert.ok(OWNED_PARAMETERS.includes(owned));
            rejects({ patroni: { postgresql: { [owned]: "x" } } }, `patroni.postgresql.${owned}`, "set by the stack");
        }
        // Security-relevant ones too: password storage, anything that runs a command, TLS (ssl and every ssl_*).
        for (const owned of [
            "password_encryption",
            "archive_library",
            "archive_cleanup_command",
            "recovery_end_command",
            "ssl",
            "SSL_Cert_File",
            "ssl_passphrase_command",
        ]) {
            rejects({ patroni: { postgresql: { [owned]: "x" } } }, `patroni.postgresql.${owned}`, "set by the stack", "ssl*");
        }
        rejects({ patroni: { postgresql: { work_mem: { a: 1 } } } }, "patroni.postgresql.work_mem", "string, number or boolean");
        // A newline would start a line of its own in a rendered file.
        rejects(
            { patroni: { postgresql: { log_line_prefix: "%m\narchive_command = 'sh'" } } },
            "patroni.postgresql.log_line_prefix",
            "control characters",
        );
        rejects({ app: { database: "app\n" } }, "app.database", "control characters");
        rejects({ barman: { backupSchedule: "0 3 * * *\n" } }, "barman.backupSchedule", "control characters");
        const ok = parseConfig({ patroni: { postgresql: { work_mem: "8MB", "pg_stat_statements.max": 5000, jit: false } } }, "t").spec;
        assert.deepEqual(ok.patroni.postgresql, { work_mem: "8MB", "pg_stat_statements.max": 5000, jit: false });
    });

    it("application database and role names", () => {
        rejects({ app: { user: "Robert'); DROP" } }, "app.user", "SQL identifier");
        rejects({ app: { user: "replicator" } }, "app.user", "creates itself");
        rejects({ app: { database: "postgres" } }, "app.database", "system database");
    });

    it("profile, barman.*, haproxy.* ranges, cpus and the stack name", () => {
        rejects({ profile: "turbo" }, "profile", '"fast", "conservative"', '"turbo"');
        rejects({ barman: { mode: "ftp" } }, "barman.mode", '"streaming", "rsync"', '"ftp"');
        rejects({ barman: { retentionPolicy: "KEEP 3" } }, "barman.retentionPolicy", "REDUNDANCY", '"KEEP 3"');
        rejects({ barman: { minimumRedundancy: -1 } }, "barman.minimumRedundancy", "0 to 1000");
        rejects({ barman: { backupSchedule: "daily" } }, "barman.backupSchedule", "5-field cron", "got 1");
        // Five fields that are not cron: refused at deploy time, not on every loop in the container.
        rejects(
            { barman: { backupSchedule: "a b c d e" } },
            "barman.backupSchedule",
            "5-field cron",
            '"a" is not a cron field',
            '"a b c d e"',
        );
        rejects({ barman: { backupSchedule: "0 0 31 2 *" } }, "barman.backupSchedule", "day of month");
        assert.equal(parseConfig({ barman: { backupSchedule: "30 2 * * MON-FRI" } }, "t").spec.barman.backupSchedule, "30 2 * * MON-FRI");
        rejects({ barman: { backupMaxAgeHours: 0 } }, "barman.backupMaxAgeHours", "1 to");
        for (const bad of ["backups", "/", "/mnt/../etc", "/mnt/./b", "./b", "//"]) {
            rejects({ barman: { backupDir: bad } }, "barman.backupDir", "absolute host path", JSON.stringify(bad));
        }
        for (const good of ["/mnt/backups/pg", "/srv/b/", "/a"]) {
            assert.equal(parseConfig({ barman: { backupDir: good } }, "t").spec.barman.backupDir, good);
        }
        assert.equal(parseConfig({}, "t").spec.barman.backupDir, "", "the volume by default");
        rejects({ barman: { compression: "zstd" } }, "barman.compression", '"gzip", "none"');
        assert.equal(parseConfig({ barman: { backupSchedule: "" } }, "t").spec.barman.backupSchedule, "", '"" disables scheduled backups');
        // The restore drill's schedule: the same grammar, daily by default, "" off.
        assert.equal(parseConfig({}, "t").spec.barman.restoreDrillSchedule, "0 4 * * *");
        assert.equal(parseConfig({ barman: { restoreDrillSchedule: "" } }, "t").spec.barman.restoreDrillSchedule, "");
        assert.equal(parseConfig({ barman: { restoreDrillSchedule: "0 5 * * SUN" } }, "t").spec.barman.restoreDrillSchedule, "0 5 * * SUN");
        rejects({ barman: { restoreDrillSchedule: "weekly" } }, "barman.restoreDrillSchedule", "5-field cron", "got 1");
        rejects({ barman: { restoreDrillSchedule: "0 0 30 2 *" } }, "barman.restoreDrillSchedule", "day of month");
        rejects({ haproxy: { inter: 50 } }, "haproxy.inter", "100 to 600000", "50");
        rejects({ haproxy: { rise: 0 } }, "haproxy.rise", "1 to 100");
        rejects({ haproxy: { maxconn: 0 } }, "haproxy.maxconn", "1 to 100000");
        rejects({ resources: { patroni: { cpus: 0 } } }, "resources.patroni.cpus", "greater than 0", "0");
        rejects({ resources: { etcd: { cpus: "two" } } }, "resources.etcd.cpus", '"two"');
        rejects({ resources: { barman: { memoryMb: 10 } } }, "resources.barman.memoryMb", "64 to");
        assert.ok(
            problems({}, "bad name!").some(p => p.includes('stack name "bad name!"')),
            "a stack name Docker cannot carry is refused",
        );
    });

    it("reports all problems together in one error", () => {
        const found = problems({ patroniNodes: 0, etcdNodes: 9, bindAddress: "x", ports: { write: 0 }, patroni: { ttl: 5 } });
        for (const key of ["patroniNodes", "etcdNodes", "bindAddress", "ports.write", "patroni.ttl"]) {
            assert.ok(
                found.some(p => p.startsWith(key)),
                `${key} missing in ${found.join(" | ")}`,
            );
        }
        try {
            parseConfig({ patroniNodes: 0, etcdNodes: 9 }, "t");
        } catch (e) {
            assert.match((e as Error).message, /Invalid stack configuration \(2 problems\)/);
        }
    });
});
