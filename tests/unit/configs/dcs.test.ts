// configs/dcs.ts: what it renders, checked field by field.
import { strict as assert } from "assert";
import { parseConfig } from "../../../config";
import { archiveParameters, barmanSlots } from "../../../configs/barman";
import { DEFAULT_PARAMETERS, renderDynamicConfig } from "../../../configs/dcs";

const spec = parseConfig({ subnet: "10.9.8.0/24" }, "dev").spec;

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
        const off = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "off" }, subnet: spec.subnet }) as Record<
            string,
            any
        >;
        assert.deepEqual([off.synchronous_mode, off.synchronous_mode_strict], [false, false]);
        const quorum = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "quorum" }, subnet: spec.subnet }) as Record<
            string,
            any
        >;
        assert.deepEqual([quorum.synchronous_mode, quorum.synchronous_mode_strict], ["quorum", false]);
        const on = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "on" }, subnet: spec.subnet }) as Record<string, any>;
        assert.deepEqual([on.synchronous_mode, on.synchronous_mode_strict], [true, false]);
        const strict = renderDynamicConfig({ patroni: { ...spec.patroni, synchronousMode: "strict" }, subnet: spec.subnet }) as Record<
            string,
            any
        >;
        assert.deepEqual([strict.synchronous_mode, strict.synchronous_mode_strict], [true, true]);
    });

    it("stack-owned archiving parameters win over anything else, and slots pass through", () => {
        const out = renderDynamicConfig({
            patroni: { ...spec.patroni, postgresql: { work_mem: "1MB" } },
            subnet: spec.subnet,
            ownedParameters: archiveParameters("streaming"),
            slots: barmanSlots("streaming"),
        }) as Record<string, any>;
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
        assert.ok(
            hba.indexOf("host replication all 0.0.0.0/0 reject") > hba.indexOf("host replication replicator 10.9.8.0/24 scram-sha-256"),
        );
        assert.ok(!hba.some(l => /\b(trust|md5)\b/.test(l)), "no trust or md5 lines");
    });
});
