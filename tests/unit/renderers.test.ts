import { strict as assert } from "assert";
import * as yaml from "js-yaml";
import { parseConfig } from "../../config";
import { archiveParameters, barmanSlots, renderBarmanConf, renderBarmanServer } from "../../configs/barman";
import { DEFAULT_PARAMETERS, renderDynamicConfig, renderPgHba } from "../../configs/dcs";
import { initialCluster, renderEtcdCommand } from "../../configs/etcd";
import { renderHaproxyCfg } from "../../configs/haproxy";
import { renderPatroniYml } from "../../configs/patroni";
import { renderAlertRules } from "../../configs/prometheus";
import { canonicalJson } from "../../configs/yaml";

const spec = parseConfig({ subnet: "10.9.8.0/24" }, "dev").spec;
const etcdMembers = spec.etcd;
const etcdAddresses = spec.etcd.map(e => e.address);
const servers = spec.members;

describe("renderers: patroni.yml", () => {
    const text = renderPatroniYml({ scope: "dev", name: "db2", address: "10.9.8.22", etcdAddresses: etcdAddresses, pgHba: renderPgHba(spec.subnet) });
    const doc = yaml.load(text) as Record<string, any>;

    it("names the scope and member, with connect addresses by IP", () => {
        assert.equal(doc.scope, "dev");
        assert.equal(doc.name, "db2");
        assert.equal(doc.namespace, "/service/");
        assert.equal(doc.restapi.connect_address, "10.9.8.22:8001");
        assert.equal(doc.restapi.listen, "0.0.0.0:8001");
        assert.equal(doc.postgresql.connect_address, "10.9.8.22:5431");
        assert.equal(doc.postgresql.listen, "0.0.0.0:5431");
    });

    it("lists every etcd member by address (etcd v3 API)", () => {
        assert.deepEqual(doc.etcd3.hosts, ["10.9.8.11:2379", "10.9.8.12:2379", "10.9.8.13:2379"]);
    });

    it("names the auth users but holds no password", () => {
        assert.deepEqual(Object.keys(doc.postgresql.authentication).sort(), ["replication", "rewind", "superuser"]);
        assert.equal(doc.postgresql.authentication.superuser.username, "postgres");
        assert.doesNotMatch(text, /password/i);
    });

    it("puts the data directory below the volume and bootstraps with checksums and C.UTF-8", () => {
        assert.equal(doc.postgresql.data_dir, "/var/lib/postgresql/15/data");
        assert.equal(doc.postgresql.bin_dir, "/usr/lib/postgresql/15/bin");
        assert.deepEqual(doc.bootstrap.initdb, [{ encoding: "UTF8" }, { locale: "C.UTF-8" }, "data-checksums"]);
        assert.equal(doc.bootstrap.post_bootstrap, "/usr/local/bin/patroni-post-bootstrap");
    });

    it("carries the pg_hba lines for initdb (Patroni's validator requires them), the same as the DCS copy", () => {
        assert.deepEqual(doc.bootstrap.pg_hba, renderPgHba(spec.subnet));
        assert.equal(doc.postgresql.pg_hba, undefined, "a local postgresql.pg_hba would override the DCS copy");
    });

    it("keeps tunables out of the node file: the same for every tuning", () => {
        // The node file has no input from ClusterSpec.patroni at all, so tuning cannot change it.
        assert.equal(doc.bootstrap.dcs.postgresql.use_slots, true);
        assert.equal(doc.postgresql.parameters.max_connections, undefined);
    });
});

describe("renderers: DCS configuration", () => {
    const dcs = renderDynamicConfig({ patroni: spec.patroni, subnet: spec.subnet }) as Record<string, any>;

    it("carries the Patroni timings, slots and pg_rewind", () => {
        assert.equal(dcs.ttl, 20);
        assert.equal(dcs.loop_wait, 8);
        assert.equal(dcs.retry_timeout, 6);
        assert.equal(dcs.failsafe_mode, true);
        assert.equal(dcs.maximum_lag_on_failover, 1048576);
        assert.equal(dcs.postgresql.use_pg_rewind, true);
        assert.equal(dcs.postgresql.use_slots, true);
        assert.equal(dcs.synchronous_mode, true);
        assert.equal(dcs.synchronous_mode_strict, false);
    });

    it("maps synchronousMode off/on/quorum/strict", () => {
        const off = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "off" }, subnet: spec.subnet }) as Record<string, any>;
        assert.deepEqual([off.synchronous_mode, off.synchronous_mode_strict], [false, false]);
        const quorum = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "quorum" }, subnet: spec.subnet }) as Record<string, any>;
        assert.deepEqual([quorum.synchronous_mode, quorum.synchronous_mode_strict], ["quorum", false]);
        const on = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "on" }, subnet: spec.subnet }) as Record<string, any>;
        assert.deepEqual([on.synchronous_mode, on.synchronous_mode_strict], [true, false]);
        const strict = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "strict" }, subnet: spec.subnet }) as Record<string, any>;
        assert.deepEqual([strict.synchronous_mode, strict.synchronous_mode_strict], [true, true]);
    });

    it("stack-owned archiving parameters win over anything else, and slots pass through", () => {
        const out = renderDynamicConfig({ patroni: { ...spec.patroni, postgresql: { work_mem: "1MB" } }, subnet: spec.subnet,
            ownedParameters: archiveParameters("streaming"), slots: barmanSlots("streaming") }) as Record<string, any>;
        assert.equal(out.postgresql.parameters.archive_command, "/usr/local/bin/archive-wal %p %f");
        assert.equal(out.postgresql.parameters.archive_mode, "always");
        assert.deepEqual(out.slots, { barman: { type: "physical" } });
        assert.equal(out.postgresql.parameters.max_slot_wal_keep_size, "4GB");
    });

    it("merges user parameters over defaults and always preloads pg_stat_statements", () => {
        const p = { ...spec.patroni, postgresql: { work_mem: "16MB", shared_preload_libraries: "auto_explain" } };
        const out = renderDynamicConfig({ patroni: p, subnet: spec.subnet }) as Record<string, any>;
        assert.equal(out.postgresql.parameters.work_mem, "16MB");
        assert.equal(out.postgresql.parameters.max_connections, DEFAULT_PARAMETERS.max_connections);
        assert.equal(out.postgresql.parameters.shared_preload_libraries, "pg_stat_statements,auto_explain");
    });

    it("admits replication only from the stack subnet", () => {
        const hba: string[] = dcs.postgresql.pg_hba;
        assert.ok(hba.includes("host replication replicator 10.9.8.0/24 scram-sha-256"));
        assert.ok(hba.indexOf("host replication all 0.0.0.0/0 reject") > hba.indexOf("host replication replicator 10.9.8.0/24 scram-sha-256"));
        assert.ok(!hba.some(l => /\b(trust|md5)\b/.test(l)), "no trust or md5 lines");
    });
});

describe("renderers: haproxy.cfg", () => {
    const cfg = renderHaproxyCfg({ servers, maximumLagOnFailover: 1048576, timings: spec.haproxy });
    const section = (name: string) => cfg.split("\n\n").find(s => s.startsWith(name)) ?? "";

    it("has one server line per node, by address, checked on the REST port", () => {
        for (const backend of ["backend primary", "backend replicas"]) {
            const lines = section(backend).split("\n").filter(l => l.trim().startsWith("server "));
            assert.deepEqual(lines.map(l => l.trim()), servers.map(s => `server ${s.name} ${s.address}:5431 check port 8001`));
        }
    });

    it("routes writes to the leader and reads to replicas within the lag limit", () => {
        assert.match(section("backend primary"), /option httpchk OPTIONS \/primary\n/);
        assert.match(section("backend replicas"), /option httpchk OPTIONS \/replica\?lag=1048576\n/);
        assert.match(section("backend replicas"), /balance roundrobin/);
        assert.match(section("frontend write"), /bind \*:5431\n\s+default_backend primary/);
        assert.match(section("frontend read"), /bind \*:5432/);
        assert.match(section("frontend read"), /use_backend primary if \{ nbsrv\(replicas\) eq 0 \}/);
    });

    it("cuts sessions to a server marked down, with the configured timings", () => {
        for (const backend of ["backend primary", "backend replicas"]) {
            assert.match(section(backend), /on-marked-down shutdown-sessions/);
            assert.match(section(backend), /inter 500 fastinter 250 downinter 500 rise 1 fall 2/);
        }
    });

    it("serves an authenticated stats page and Prometheus metrics, credentials from the environment", () => {
        const stats = section("frontend stats");
        assert.match(stats, /bind \*:8404/);
        assert.match(stats, /stats auth "\$\{STATS_USER\}:\$\{STATS_PASSWORD\}"/);
        assert.match(stats, /use-service prometheus-exporter if \{ path \/metrics \}/);
    });
});

describe("renderers: etcd", () => {
    it("initial cluster lists every member by address", () => {
        assert.equal(initialCluster(etcdMembers), "etcd1=http://10.9.8.11:2380,etcd2=http://10.9.8.12:2380,etcd3=http://10.9.8.13:2380");
    });
    it("advertises addresses, never names", () => {
        const cmd = renderEtcdCommand(etcdMembers[1], etcdMembers, "dev-etcd");
        assert.ok(cmd.includes("--name=etcd2"));
        assert.ok(cmd.includes("--advertise-client-urls=http://10.9.8.12:2379"));
        assert.ok(cmd.includes("--initial-advertise-peer-urls=http://10.9.8.12:2380"));
        assert.ok(cmd.includes(`--initial-cluster=${initialCluster(etcdMembers)}`));
        assert.ok(cmd.includes("--initial-cluster-token=dev-etcd"));
    });
});

describe("renderers: barman", () => {
    it("global config carries retention and compression", () => {
        const conf = renderBarmanConf(spec.barman);
        assert.match(conf, /^retention_policy = RECOVERY WINDOW OF 1 DAYS$/m);
        assert.match(conf, /^wal_retention_policy = main$/m);
        assert.match(conf, /^minimum_redundancy = 1$/m);
        assert.match(conf, /^compression = gzip$/m);
        assert.doesNotMatch(renderBarmanConf({ ...spec.barman, compression: "none" }), /compression/);
    });
    it("server config reaches the leader through HAProxy's write listener", () => {
        const conf = renderBarmanServer({ stack: "dev", haproxyAddress: "10.9.8.2", mode: "streaming" });
        assert.match(conf, /^conninfo = host=10\.9\.8\.2 port=5431 user=barman /m);
        assert.match(conf, /^streaming_conninfo = host=10\.9\.8\.2 port=5431 user=streaming_barman /m);
        assert.match(conf, /^backup_method = postgres$/m);
        assert.match(conf, /^slot_name = barman$/m);
        assert.match(conf, /^streaming_archiver = on$/m);
        assert.match(conf, /^archiver = on$/m);
        assert.match(conf, /^incoming_wals_directory = \/var\/lib\/barman-wal\/incoming$/m);
        assert.doesNotMatch(conf, /password/i);
    });
});

describe("renderers: Prometheus", () => {
    it("alert rules cover no leader, replication lag at maximum_lag_on_failover, archiving, Barman and backup age", () => {
        const rules = (yaml.load(renderAlertRules({ maximumLagOnFailover: 1048576, backupMaxAgeSeconds: 93600 })) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups[0].rules;
        const byName = Object.fromEntries(rules.map(r => [r.alert, r.expr]));
        assert.deepEqual(Object.keys(byName).sort(), ["BackupTooOld", "BarmanCheckFailing", "BarmanDown", "PatroniNoLeader", "ReplicationLagHigh", "WalArchiveGap", "WalArchivingFailing"]);
        assert.match(byName.ReplicationLagHigh, /> 1048576$/);
        assert.match(byName.BackupTooOld, /> 93600$/);
    });
});

describe("renderers are deterministic", () => {
    it("the same input gives the same bytes, whatever the key order of the input", () => {
        const a = { ...spec.patroni, postgresql: { work_mem: "8MB", jit: false } };
        const b = { ...spec.patroni, postgresql: { jit: false, work_mem: "8MB" } };
        assert.equal(canonicalJson(renderDynamicConfig({ patroni: a, subnet: spec.subnet })), canonicalJson(renderDynamicConfig({ patroni: b, subnet: spec.subnet })));
        const node = { scope: "dev", name: "db1", address: "10.9.8.21", etcdAddresses: etcdAddresses, pgHba: renderPgHba(spec.subnet) };
        assert.equal(renderPatroniYml(node), renderPatroniYml({ ...node }));
        assert.equal(renderHaproxyCfg({ servers, maximumLagOnFailover: 5, timings: spec.haproxy }), renderHaproxyCfg({ servers: [...servers], maximumLagOnFailover: 5, timings: { ...spec.haproxy } }));
        assert.equal(canonicalJson({ b: 1, a: { d: 1, c: 2 } }), '{"a":{"c":2,"d":1},"b":1}');
    });
});
