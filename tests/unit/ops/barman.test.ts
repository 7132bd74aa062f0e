// ops/barman.ts against a fake `docker` on PATH that answers as the Barman container would.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { drillState, lastArchived } from "../../../ops/barman";

describe("ops/barman: reading Barman's answers", () => {
    let dir: string, savedPath: string | undefined;
    /** `docker exec <container> <command...>` prints `answers[command]`. */
    function fakeDocker(answers: Record<string, string>): void {
        const cases = Object.entries(answers)
            .map(([cmd, out]) => `  "${cmd}") cat <<'EOF_OUT'\n${out}\nEOF_OUT\n  ;;`)
            .join("\n");
        fs.writeFileSync(path.join(dir, "docker"), `#!/bin/sh\nshift 2\ncase "$*" in\n${cases}\n  *) exit 1;;\nesac\n`, { mode: 0o755 });
    }
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fakedocker-"));
        savedPath = process.env.PATH;
        process.env.PATH = `${dir}:${savedPath}`;
    });
    afterEach(() => {
        process.env.PATH = savedPath;
        fs.rmSync(dir, { recursive: true });
    });

    it("the last archived segment and its time, from barman status (what pitr names as the newest recoverable time)", async () => {
        fakeDocker({
            "barman status cluster": [
                "Server cluster:",
                "\tDescription: Patroni cluster",
                "\tLast archived WAL: 00000002000000000000000A, at Thu Nov 26 23:22:55 2026",
                "\tFailures of WAL archiver: 0",
            ].join("\n"),
        });
        assert.deepEqual(await lastArchived("st-barman"), { wal: "00000002000000000000000A", at: "Thu Nov 26 23:22:55 2026" });
        fakeDocker({ "barman status cluster": "Server cluster:\n\tLast archived WAL: No WAL segment shipped yet" });
        assert.equal(await lastArchived("st-barman"), undefined);
    });

    it("the recorded verification and drill (barman-ha state)", async () => {
        fakeDocker({
            "barman-ha state": JSON.stringify({
                since: 1,
                verify: { backup: "20261126T030000", ok: true, at: 5, detail: "" },
                verify_ok_at: 5,
                drill: { backup: "20261126T030000", ok: false, at: 9, detail: "pg_dumpall failed: x", seconds: 3.5 },
            }),
        });
        assert.deepEqual(await drillState("st-barman"), {
            verify: { backup: "20261126T030000", ok: true, at: 5, detail: "" },
            drill: { backup: "20261126T030000", ok: false, at: 9, detail: "pg_dumpall failed: x", seconds: 3.5 },
        });
        fakeDocker({});
        await assert.rejects(drillState("st-barman"), /barman-ha state failed/);
    });
});
