import { strict as assert } from "assert";
import { certificateValidity, render, Snapshot, verdict } from "../../../ops/status";
import { ecdsaPrivateKey, selfSignedCert } from "../../support/certificates";
import { parseSamples, sampleValue } from "../../../lib/metrics";
import { memberRunning } from "../../../lib/patroniApi";

function healthy(): Snapshot {
    return {
        members: [
            { name: "db1", role: "leader", state: "running", timeline: 2, lagBytes: 0 },
            // Patroni 4 reports a replica's replication state where Patroni 3 said "running".
            { name: "db2", role: "sync_standby", state: "streaming", timeline: 2, lagBytes: 0, streaming: true },
            { name: "db3", role: "replica", state: "streaming", timeline: 2, lagBytes: 120, streaming: true },
        ],
        maximumLagOnFailover: 1048576,
        etcd: [
            { endpoint: "http://127.0.0.1:23791", healthy: true },
            { endpoint: "http://127.0.0.1:23792", healthy: true },
            { endpoint: "http://127.0.0.1:23793", healthy: true },
        ],
        haproxy: { write: { db1: "UP", db2: "DOWN", db3: "DOWN" }, read: { db1: "DOWN", db2: "UP", db3: "UP" } },
        barman: {
            checkOk: true,
            failures: [],
            lastArchivedWal: "000000020000000000000007",
            archiverFailures: "0",
            lastBackup: "20261125T230143",
            lastBackupAgeHours: 1,
            verify: { backup: "20261125T230143", ok: true, at: Date.now() / 1000 - 3600, detail: "" },
            drill: {
                backup: "20261125T230143",
                ok: true,
                at: Date.now() / 1000 - 1800,
                detail: "2 database(s), 5047 bytes dumped",
                seconds: 12.5,
            },
        },
    };
}

describe("status verdict", () => {
    it("reads the CA certificate's end and says to rotate under 30 days left", () => {
        const ca = selfSignedCert({
            privateKeyPem: ecdsaPrivateKey("P256"),
            subject: { commonName: "t CA" },
            validityPeriodHours: 20 * 24,
            isCaCertificate: true,
            allowedUses: ["cert_signing"],
        });
        const validity = certificateValidity(ca);
        assert.ok(validity.daysLeft === 19 || validity.daysLeft === 20, JSON.stringify(validity));
        const soon = { ...healthy(), certificates: validity };
        assert.match(
            verdict(soon).reasons.join("\n"),
            /certificates expire in (19|20) days, on .*renew them: pulumi refresh, then pulumi up \(docs\/security\.md#rotating-certificates\)/,
        );
        assert.match(render(soon, verdict(soon)), /certificates: valid until \d{4}-/);
        assert.equal(certificateValidity(ca, Date.now() + 40 * 86400000).daysLeft < 0, true);
        assert.match(verdict({ ...healthy(), certificates: { notAfter: "x", daysLeft: -1 } }).reasons[0], /certificates expired on x/);
        assert.deepEqual(verdict({ ...healthy(), certificates: { notAfter: "x", daysLeft: 30 } }).reasons, []);
    });

    it("counts Patroni 3's running and Patroni 4's replication states as running, nothing else", () => {
        for (const state of ["running", "streaming", "in archive recovery"]) {
            assert.equal(memberRunning({ state }), true, state);
        }
        for (const state of ["stopped", "crashed", "starting", "restarting", "stopping", ""]) {
            assert.equal(memberRunning({ state }), false, state);
        }
        const s = healthy();
        s.members![1] = { ...s.members![1], state: "in archive recovery", streaming: false };
        assert.deepEqual(verdict(s).reasons, ["db2 does not stream from the leader"]);
    });

    it("a healthy snapshot is healthy and says so first", () => {
        const v = verdict(healthy());
        assert.deepEqual(v, { ok: true, reasons: [] });
        const text = render(healthy(), v);
        assert.match(text, /^HEALTHY\n/);
        assert.match(text, /db3\s+replica\s+streaming\s+2\s+120\s+yes\s+DOWN\/UP/);
        assert.match(text, /leader: db1/);
    });

    it("a killed replica is named, in Patroni and in HAProxy's read pool", () => {
        const s = healthy();
        s.members![2] = { name: "db3", role: "replica", state: "stopped", lagBytes: null, streaming: false };
        s.haproxy!.read.db3 = "DOWN";
        const v = verdict(s);
        assert.equal(v.ok, false);
        assert.deepEqual(v.reasons, ["db3 is stopped"]);
        assert.match(render(s, v), /UNHEALTHY \(1 problem\)[\s\S]*- db3 is stopped/);
    });

    it("a member that vanished from the DCS (its key expired) is reported as down", () => {
        const s = healthy();
        s.expected = ["db1", "db2", "db3", "db4"];
        assert.deepEqual(verdict(s).reasons, ["db4 is stopped or unreachable (not registered in the DCS)"]);
        assert.match(render(s, verdict(s)), /db4\s+-\s+DOWN/);
    });

    it("a replica that is running but not streaming, or lagging past the failover limit, is a problem", () => {
        const s = healthy();
        s.members![1].streaming = false;
        s.members![2].lagBytes = 5_000_000;
        assert.deepEqual(verdict(s).reasons, [
            "db2 does not stream from the leader",
            "db3 lags 5000000 bytes, more than maximum_lag_on_failover 1048576: it cannot take over",
        ]);
    });

    it("Barman stopped or failing its check is a problem", () => {
        const s = healthy();
        s.barman = null;
        s.barmanError = "docker exec: container is not running";
        assert.deepEqual(verdict(s).reasons, ["Barman unreachable (docker exec: container is not running)"]);
        const t = healthy();
        t.barman = { ...t.barman!, checkOk: false, failures: ["receive-wal running: FAILED"], lastBackup: undefined };
        assert.deepEqual(verdict(t).reasons, [
            "barman check: receive-wal running: FAILED",
            "Barman has no base backup: point-in-time recovery is impossible",
        ]);
    });

    it("no leader, HAProxy disagreeing with Patroni, and etcd quorum loss", () => {
        const s = healthy();
        s.members![0].role = "replica";
        s.members![0].streaming = true;
        assert.ok(verdict(s).reasons.includes("the cluster has no leader: writes fail"));
        const t = healthy();
        t.haproxy!.write.db2 = "UP";
        assert.deepEqual(verdict(t).reasons, ["HAProxy's write backend has db2 UP although it is not the leader"]);
        const u = healthy();
        u.etcd[0].healthy = false;
        u.etcd[1].healthy = false;
        assert.match(verdict(u).reasons[0], /etcd: 2 of 3 members unhealthy .*quorum LOST/);
    });

    it("a gap since the newest backup fails with what to do; an older gap, healed by a newer backup, is shown but healthy", () => {
        const s = healthy();
        s.barman!.gaps = {
            sinceOldestBackup: ["000000020000000000000009"],
            sinceNewestBackup: ["000000020000000000000009"],
            newestBackup: "20261125T030000",
        };
        assert.match(
            verdict(s).reasons[0],
            /WAL archive has 1 missing segment.*since the newest backup.*000000020000000000000009.*npm run backup/,
        );
        s.barman!.gaps = { sinceOldestBackup: ["000000020000000000000009"], sinceNewestBackup: [], newestBackup: "20261125T030000" };
        const v = verdict(s);
        assert.deepEqual(v.reasons, []);
        assert.match(render(s, v), /older WAL gaps: 000000020000000000000009: backups before 20261125T030000 recover only up to them/);
    });

    it("shows the newest backup's verification and the last drill; a failed one is a problem naming the backup and why", () => {
        const ok = render(healthy(), verdict(healthy()));
        assert.match(ok, /verified: OK, backup 20261125T230143, 1\.0 h ago/);
        assert.match(ok, /restore drill: OK, backup 20261125T230143, 0\.5 h ago in 12\.5 s \(2 database\(s\), 5047 bytes dumped\)/);
        const s = healthy();
        s.barman!.verify = {
            backup: "20261125T230143",
            ok: false,
            at: Date.now() / 1000,
            detail: "verify-backup: checksum mismatch for file base/5/1259",
        };
        s.barman!.drill = {
            backup: "20261125T230143",
            ok: false,
            at: Date.now() / 1000,
            detail: "backup 20261125T230143 failed verification",
        };
        const v = verdict(s);
        assert.deepEqual(v.reasons, [
            "the newest backup 20261125T230143 failed verification (verify-backup: checksum mismatch for file base/5/1259): take a new one (npm run backup) and find out why",
            "the last restore drill (backup 20261125T230143) failed: backup 20261125T230143 failed verification; npm run drill runs it again",
        ]);
        assert.match(render(s, v), /restore drill: FAILED, backup 20261125T230143/);
        // A failed verification of an older backup no longer matters once a newer one exists; no drill yet is not a problem.
        s.barman!.lastBackup = "20261126T030000";
        delete s.barman!.drill;
        assert.deepEqual(verdict(s).reasons, []);
        assert.match(render(s, verdict(s)), /restore drill: not yet/);
    });

    it("the failover sentinel: shown when the stack runs one; not following the engine, or unreachable, is a problem", () => {
        const s = healthy();
        assert.doesNotMatch(render(s, verdict(s)), /Failover sentinel/, "no section for a stack without one");
        s.sentinel = {
            connected: true,
            deaths: 2,
            released: 1,
            errors: 0,
            lastRelease: Date.parse("2026-11-27T03:00:00Z") / 1000,
            lastReleaseSeconds: 0.012,
        };
        assert.deepEqual(verdict(s).reasons, []);
        assert.match(
            render(s, verdict(s)),
            /following the engine's events; member deaths seen 2, leader keys released 1; last 2026-11-27T03:00:00.000Z, 0.012 s after the death; errors 0/,
        );
        s.sentinel.connected = false;
        assert.deepEqual(verdict(s).reasons, [
            "the failover sentinel does not follow the Docker engine's events: a dead leader is replaced only when its lease expires",
        ]);
        s.sentinel = null;
        s.sentinelError = "fetch failed";
        assert.match(verdict(s).reasons[0], /^the failover sentinel is unreachable \(fetch failed\)/);
        assert.match(render(s, verdict(s)), /Failover sentinel\n {2}unreachable: fetch failed/);
    });
});

describe("Prometheus exposition parsing", () => {
    it("finds samples by name and labels; comments, HELP and TYPE lines are skipped", () => {
        const samples = parseSamples(
            [
                "# HELP patroni_sentinel_deaths_skipped_total Deaths after which the key was left alone",
                "# TYPE patroni_sentinel_deaths_skipped_total counter",
                'patroni_sentinel_deaths_skipped_total{reason="not_leader"} 3.0',
                'patroni_sentinel_deaths_skipped_total{reason="no_leader_key"} 1.0',
                'barman_up{server="clu\\"ster"} 1',
                "patroni_sentinel_docker_connected 1.0",
                "",
            ].join("\n"),
        );
        assert.equal(samples.length, 4);
        assert.equal(sampleValue(samples, "patroni_sentinel_deaths_skipped_total", { reason: "no_leader_key" }), 1);
        assert.equal(sampleValue(samples, "patroni_sentinel_deaths_skipped_total", { reason: "not_leader" }), 3);
        assert.equal(sampleValue(samples, "barman_up", { server: 'clu"ster' }), 1);
        assert.equal(sampleValue(samples, "patroni_sentinel_docker_connected"), 1);
        assert.equal(sampleValue(samples, "patroni_sentinel_errors_total"), undefined);
    });
});
