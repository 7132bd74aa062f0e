import { strict as assert } from "assert";
import { BackupInfo } from "../../../ops/barman";
import { chooseBackup, latestTimeline, parseTarget, parseTargetTime, postgresVerdict, targetTime } from "../../../ops/pitr";

const backups: BackupInfo[] = [
    { id: "20261126T100000", status: "DONE", endTime: "2026-11-26 10:00:30+00:00" },
    { id: "20261126T110000", status: "DONE", endTime: "2026-11-26 11:00:40+00:00" },
    { id: "20261126T120000", status: "FAILED", endTime: "2026-11-26 12:00:10+00:00" },
    { id: "20261126T090000", status: "DONE", endTime: "2026-11-26 09:00:20+00:00" },
];

describe("pitr: target parsing and backup choice", () => {
    it("reads ISO 8601 times; no zone means UTC", () => {
        assert.equal(parseTargetTime("2026-11-26T11:10:29Z").toISOString(), "2026-11-26T11:10:29.000Z");
        assert.equal(parseTargetTime("2026-11-26 11:10:29").toISOString(), "2026-11-26T11:10:29.000Z");
        assert.equal(parseTargetTime("2026-11-26T12:10:29+01:00").toISOString(), "2026-11-26T11:10:29.000Z");
        assert.throws(() => parseTargetTime("yesterday"), /not an ISO 8601 or PostgreSQL timestamp/);
    });

    it("reads what PostgreSQL prints for timestamptz, keeping microseconds for the recovery target", () => {
        assert.deepEqual(targetTime("2026-11-26 11:10:29.176878+00"), {
            at: new Date("2026-11-26T11:10:29.176Z"),
            postgres: "2026-11-26 11:10:29.176878+00:00",
        });
        assert.equal(targetTime("2026-11-26 16:40:29+05:30").at.toISOString(), "2026-11-26T11:10:29.000Z");
        assert.equal(targetTime("2026-11-26 06:10:29.5-0500").at.toISOString(), "2026-11-26T11:10:29.500Z");
        assert.equal(targetTime("2026-11-26T11:10:29Z").postgres, "2026-11-26 11:10:29+00:00");
        assert.equal(targetTime("2026-11-26 11:10:29").postgres, "2026-11-26 11:10:29+00:00", "no zone means UTC");
        for (const bad of [
            "2026-11-26",
            "11:10:29",
            "2026-11-26 11:10:29 UTC+1",
            "2026-13-40 11:10:29+00",
            "2026-11-26 11:10:29.1234567+00",
        ]) {
            assert.throws(() => targetTime(bad), /is not an ISO 8601 or PostgreSQL timestamp/, bad);
        }
    });

    it("says why a recovery stopped, in PostgreSQL's own words", () => {
        const logs = [
            "2026-11-26 11:00:01 UTC [7] LOG:  starting PostgreSQL 15.18",
            "2026-11-26 11:00:01 UTC [9] LOG:  redo starts at 0/5000028",
            "2026-11-26 11:00:02 UTC [9] LOG:  last completed transaction was at log time 2026-11-26 10:59:00+00",
            "2026-11-26 11:00:02 UTC [9] FATAL:  recovery ended before configured recovery target was reached",
            "2026-11-26 11:00:02 UTC [7] LOG:  startup process (PID 9) exited with exit code 1",
        ].join("\n");
        const v = postgresVerdict(logs);
        assert.match(v, /FATAL: +recovery ended before configured recovery target was reached/);
        assert.match(v, /last completed transaction was at log time/);
        assert.doesNotMatch(v, /starting PostgreSQL/);
        assert.match(postgresVerdict("something else\nentirely"), /no FATAL or recovery line .*entirely/);
    });

    it("picks the newest finished backup that ended before a time target", () => {
        assert.equal(chooseBackup(backups, { time: "2026-11-26T11:30:00Z" }).id, "20261126T110000");
        assert.equal(
            chooseBackup(backups, { time: "2026-11-26T11:00:35Z" }).id,
            "20261126T100000",
            "a backup still running at the target is no use",
        );
        assert.equal(chooseBackup(backups, { time: "2026-11-26T13:00:00Z" }).id, "20261126T110000", "a FAILED backup is never chosen");
        assert.throws(() => chooseBackup(backups, { time: "2026-11-26T08:00:00Z" }), /no finished backup ends before the target/);
    });

    it("takes the newest finished backup for lsn, xid and latest, and a named one when asked", () => {
        for (const target of [{ lsn: "0/5000000" }, { xid: "1234" }, { latest: true as const }]) {
            assert.equal(chooseBackup(backups, target).id, "20261126T110000");
        }
        assert.equal(chooseBackup(backups, { latest: true }, "20261126T090000").id, "20261126T090000");
        assert.throws(() => chooseBackup(backups, { latest: true }, "20261126T120000"), /no finished backup 20261126T120000/);
    });

    it("follows the highest timeline Barman has a history file for", () => {
        const names = new Set(["000000010000000000000003", "00000002.history", "00000003.history", "000000030000000000000005"]);
        assert.equal(latestTimeline(names, 1), 3);
        assert.equal(latestTimeline(new Set(["000000010000000000000003"]), 1), 1);
        assert.equal(latestTimeline(new Set(["00000002.history"]), 4), 4, "never below the backup's own timeline");
    });

    it("parses exactly one target flag", () => {
        assert.deepEqual(parseTarget(["--target-time", "2026-11-26T11:00:00Z"]), { time: "2026-11-26T11:00:00Z" });
        assert.deepEqual(parseTarget(["--target-lsn", "0/5000060"]), { lsn: "0/5000060" });
        assert.deepEqual(parseTarget(["--target-xid", "777"]), { xid: "777" });
        assert.deepEqual(parseTarget(["--latest"]), { latest: true });
        assert.equal(parseTarget(["--remove"]), undefined);
        assert.throws(() => parseTarget(["--latest", "--target-xid", "5"]), /give one target/);
        assert.throws(() => parseTarget(["--target-lsn", "5000060"]), /not an LSN/);
        assert.throws(() => parseTarget(["--target-xid", "abc"]), /not a transaction id/);
        assert.throws(() => parseTarget(["--target-time", "soon"]), /not an ISO 8601/);
    });
});
