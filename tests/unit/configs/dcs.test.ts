// configs/dcs.ts: what it renders, checked field by field.
import { strict as assert } from "assert";
import { parseConfig } from "../../../config";
import { archiveParameters, barmanSlots } from "../../../configs/barman";
import * as net from "net";
import { bootstrapPgHba, DEFAULT_PARAMETERS, renderDynamicConfig } from "../../../configs/dcs";
import { TLS_FILES, TLS_RUN } from "../../../configs/layout";

const spec = parseConfig({ subnet: "10.9.8.0/24", serviceSubnet: "10.9.9.0/24" }, "dev").spec;
const hba = { haproxy: spec.addresses.haproxy, members: spec.members.map(m => m.address), superuserAccess: true, clientTls: true };

describe("renderers: DCS configuration", () => {
    const dcs = renderDynamicConfig({ patroni: spec.patroni, hba }) as Record<string, any>;

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
        const off = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "off" }, hba }) as Record<string, any>;
        assert.deepEqual([off.synchronous_mode, off.synchronous_mode_strict], [false, false]);
        const quorum = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "quorum" }, hba }) as Record<string, any>;
        assert.deepEqual([quorum.synchronous_mode, quorum.synchronous_mode_strict], ["quorum", false]);
        const on = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "on" }, hba }) as Record<string, any>;
        assert.deepEqual([on.synchronous_mode, on.synchronous_mode_strict], [true, false]);
        const strict = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "strict" }, hba }) as Record<string, any>;
        assert.deepEqual([strict.synchronous_mode, strict.synchronous_mode_strict], [true, true]);
    });

    it("stack-owned archiving parameters win over anything else, and slots pass through", () => {
        const out = renderDynamicConfig({
            patroni: { ...spec.patroni, postgresql: { work_mem: "1MB" } },
            hba,
            ownedParameters: archiveParameters("streaming"),
            slots: barmanSlots("streaming"),
        }) as Record<string, any>;
        assert.equal(out.postgresql.parameters.archive_command, "/usr/local/bin/archive-wal %p %f");
        assert.equal(out.postgresql.parameters.archive_mode, "always");
        assert.deepEqual(out.slots, { barman: { type: "physical" } });
        assert.equal(out.postgresql.parameters.max_slot_wal_keep_size, "4GB");
    });

    it("PostgreSQL serves TLS with the node's certificate and key files, and trusts only the stack's CA", () => {
        const out = renderDynamicConfig({ patroni: spec.patroni, hba }) as Record<string, any>;
        const p = out.postgresql.parameters;
        assert.deepEqual(
            [p.ssl, p.ssl_cert_file, p.ssl_key_file, p.ssl_ca_file, p.ssl_min_protocol_version],
            ["on", TLS_FILES.cert, TLS_FILES.key, TLS_FILES.ca, "TLSv1.2"],
        );
        // The key is on the tmpfs tls-key writes, never in the uploaded folder.
        assert.ok(TLS_FILES.key.startsWith(`${TLS_RUN}/`));
    });

    it("merges user parameters over defaults and always preloads pg_stat_statements", () => {
        const p = { ...spec.patroni, postgresql: { work_mem: "16MB", shared_preload_libraries: "auto_explain" } };
        const out = renderDynamicConfig({ patroni: p, hba }) as Record<string, any>;
        assert.equal(out.postgresql.parameters.work_mem, "16MB");
        assert.equal(out.postgresql.parameters.max_connections, DEFAULT_PARAMETERS.max_connections);
        assert.equal(out.postgresql.parameters.shared_preload_libraries, "pg_stat_statements,auto_explain");
    });

    /** The method of the first pg_hba line matching a TCP login, as PostgreSQL picks it (first match wins). */
    /** What PostgreSQL does with a TCP login (first matching line); `ssl: false` is a plain connection. */
    function methodFor(lines: string[], login: { role: string; from: string; replication?: boolean; ssl?: boolean }): string {
        const ssl = login.ssl ?? true;
        for (const line of lines) {
            const [type, database, role, address, method] = line.split(/\s+/);
            const typeMatches = type === "host" || (type === "hostssl" && ssl) || (type === "hostnossl" && !ssl);
            if (!typeMatches || (database === "replication") !== !!login.replication || (role !== "all" && role !== login.role)) {
                continue;
            }
            const block = new net.BlockList();
            if (address !== "all") {
                const [ip, bits] = address.split("/");
                block.addSubnet(ip, Number(bits), net.isIPv6(ip) ? "ipv6" : "ipv4");
            }
            if (address === "all" || block.check(login.from, net.isIPv6(login.from) ? "ipv6" : "ipv4")) {
                return method;
            }
        }
        return "no line (refused)";
    }

    it("pg_hba admits each stack role only from where it is used, over TLS, by SCRAM; the application's role from anywhere", () => {
        const lines: string[] = dcs.postgresql.pg_hba;
        // HAProxy, Barman and the exporter on the service network; replication on the stack network.
        const haproxy = "10.9.9.2",
            gateway = "10.9.8.1", // the host, and Docker's proxy for published ports
            serviceGateway = "10.9.9.1",
            barman = "10.9.9.3",
            exporter = "10.9.9.4",
            node = "10.9.8.21",
            nodeOnServiceNetwork = "10.9.9.21",
            outsider = "192.0.2.7";
        const expected: [string, string, boolean, string][] = [
            // role, from, replication connection, method
            ["postgres", haproxy, false, "scram-sha-256"],
            ["postgres", gateway, false, "reject"],
            ["postgres", serviceGateway, false, "reject"],
            ["postgres", "10.9.8.2", false, "reject"],
            ["postgres", node, false, "reject"],
            ["postgres", outsider, false, "reject"],
            ["postgres", node, true, "reject"],
            ["replicator", node, true, "scram-sha-256"],
            ["replicator", "127.0.0.1", true, "scram-sha-256"],
            ["replicator", nodeOnServiceNetwork, true, "reject"],
            ["rewind_user", nodeOnServiceNetwork, false, "reject"],
            ["replicator", haproxy, true, "reject"],
            ["replicator", gateway, true, "reject"],
            ["replicator", gateway, false, "reject"],
            ["rewind_user", node, false, "scram-sha-256"],
            ["rewind_user", haproxy, false, "reject"],
            ["rewind_user", gateway, false, "reject"],
            ["streaming_barman", haproxy, true, "scram-sha-256"],
            ["streaming_barman", barman, true, "reject"],
            ["streaming_barman", gateway, true, "reject"],
            ["barman", haproxy, false, "scram-sha-256"],
            ["barman", gateway, false, "reject"],
            ["monitor", haproxy, false, "scram-sha-256"],
            ["monitor", exporter, false, "reject"],
            ["monitor", gateway, false, "reject"],
            ["app", gateway, false, "scram-sha-256"],
            ["app", outsider, false, "scram-sha-256"],
            ["app", haproxy, false, "scram-sha-256"],
            ["app", "2001:db8::1", false, "scram-sha-256"],
            ["app", gateway, true, "reject"],
        ];
        const actual = expected.map(([role, from, replication]) => [
            role,
            from,
            replication,
            methodFor(lines, { role, from, replication }),
        ]);
        assert.deepEqual(actual, expected);
        // Without TLS nobody gets in over TCP, whoever and from wherever.
        assert.deepEqual(
            expected.map(([role, from, replication]) => methodFor(lines, { role, from, replication, ssl: false })),
            expected.map(() => "reject"),
        );
        assert.ok(
            lines.every(l => !l.startsWith("host ") || l.endsWith(" reject")),
            "every TCP line that lets a login in is hostssl (plain `host` lines only reject)",
        );
        assert.equal(lines[0], "local all all peer", "Patroni and the bootstrap script use the socket");
        assert.ok(!lines.some(l => /\b(trust|md5|password)\b/.test(l)), "no trust, md5 or clear-text lines");
    });

    it("superuserAccess: false rejects the superuser over TCP from everywhere, HAProxy included; every other role as before", () => {
        const closed: string[] = (
            renderDynamicConfig({ patroni: spec.patroni, hba: { ...hba, superuserAccess: false } }) as Record<string, any>
        ).postgresql.pg_hba;
        for (const from of ["10.9.9.2", "10.9.8.1", "10.9.8.21", "192.0.2.7"]) {
            assert.equal(methodFor(closed, { role: "postgres", from }), "reject", from);
        }
        for (const [role, from, replication] of [
            ["barman", "10.9.9.2", false],
            ["replicator", "10.9.8.21", true],
            ["app", "192.0.2.7", false],
        ] as const) {
            assert.equal(methodFor(closed, { role, from, replication }), "scram-sha-256", role);
        }
        assert.equal(closed[0], "local all all peer", "the socket stays open to Patroni and patronictl");
    });

    it("clientTls: false admits the client roles without TLS (application's, operator's, superuser through HAProxy); the stack's own roles keep TLS", () => {
        const plain: string[] = (renderDynamicConfig({ patroni: spec.patroni, hba: { ...hba, clientTls: false } }) as Record<string, any>)
            .postgresql.pg_hba;
        const [haproxy, gateway, node] = ["10.9.9.2", "10.9.8.1", "10.9.8.21"];
        for (const ssl of [false, true]) {
            assert.equal(methodFor(plain, { role: "app", from: gateway, ssl }), "scram-sha-256", `app, ssl ${ssl}`);
            assert.equal(methodFor(plain, { role: "someone_else", from: "192.0.2.7", ssl }), "scram-sha-256");
            assert.equal(methodFor(plain, { role: "postgres", from: haproxy, ssl }), "scram-sha-256", `postgres, ssl ${ssl}`);
            assert.equal(methodFor(plain, { role: "postgres", from: gateway, ssl }), "reject", "the superuser still only through HAProxy");
        }
        for (const [role, from, replication] of [
            ["replicator", node, true],
            ["replicator", node, false],
            ["rewind_user", node, false],
            ["barman", haproxy, false],
            ["monitor", haproxy, false],
            ["streaming_barman", haproxy, true],
            ["app", gateway, true],
        ] as const) {
            assert.equal(methodFor(plain, { role, from, replication, ssl: false }), "reject", `${role} without TLS`);
        }
        assert.equal(methodFor(plain, { role: "replicator", from: node, replication: true }), "scram-sha-256", "over TLS as before");
        assert.equal(methodFor(plain, { role: "monitor", from: haproxy }), "scram-sha-256");
        // superuserAccess: false still closes the superuser, TLS or not.
        const closed: string[] = (
            renderDynamicConfig({ patroni: spec.patroni, hba: { ...hba, clientTls: false, superuserAccess: false } }) as Record<string, any>
        ).postgresql.pg_hba;
        assert.equal(methodFor(closed, { role: "postgres", from: haproxy, ssl: false }), "reject");
    });

    it("the initdb lines stay as first released (changing them would replace every node's container on upgrade)", () => {
        assert.deepEqual(bootstrapPgHba("10.9.8.0/24"), [
            "local all all peer",
            "host replication replicator 127.0.0.1/32 scram-sha-256",
            "host replication replicator ::1/128 scram-sha-256",
            "host replication replicator 10.9.8.0/24 scram-sha-256",
            "host replication streaming_barman 10.9.8.0/24 scram-sha-256",
            "host replication all 0.0.0.0/0 reject",
            "host all all 0.0.0.0/0 scram-sha-256",
            "host all all ::/0 scram-sha-256",
        ]);
    });
});
