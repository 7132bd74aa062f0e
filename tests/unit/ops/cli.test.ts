// ops/cli.ts: every operator command's flags, --help, and usage errors that name the flag.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import { COMMANDS, parseCommand, usage } from "../../../ops/cli";
import { UsageError } from "../../../ops/outputs";

const ROOT = path.join(__dirname, "..", "..", "..");

describe("operator commands: flags", () => {
    for (const spec of Object.values(COMMANDS)) {
        it(`${spec.name}: --help lists every flag; unknown flags, missing values and stray arguments are usage errors`, () => {
            assert.equal(parseCommand(spec, ["--help"]).help, true);
            const text = usage(spec);
            for (const flag of [...Object.keys(spec.options), "help"]) {
                assert.match(text, new RegExp(`^  --${flag}\\b`, "m"), flag);
            }
            assert.equal(parseCommand(spec, ["--outputs", "-"]).values.outputs, "-");
            assert.throws(
                () => parseCommand(spec, ["--outputs", "o.json", "--target_time", "x"]),
                (e: Error) =>
                    e instanceof UsageError && /'--target_time'/.test(e.message) && e.message.includes(`npm run ${spec.name} -- --help`),
            );
            assert.throws(
                () => parseCommand(spec, ["--outputs"]),
                (e: Error) => e instanceof UsageError && /--outputs <value>' argument missing/.test(e.message),
            );
            assert.throws(
                () => parseCommand(spec, ["o.json"]),
                (e: Error) => e instanceof UsageError && /Unexpected argument 'o.json'/.test(e.message),
            );
        });
    }

    it("the commands' own flags parse as their code reads them", () => {
        assert.equal(parseCommand(COMMANDS.switchover, ["--outputs", "f", "--to", "db2"]).values.to, "db2");
        assert.equal(parseCommand(COMMANDS.status, ["--outputs", "f", "--json"]).values.json, true);
        const p = parseCommand(COMMANDS.pitr, ["--outputs", "f", "--target-time", "2026-11-26 11:10:29+00", "--backup-id", "B"]).values;
        assert.deepEqual([p["target-time"], p["backup-id"]], ["2026-11-26 11:10:29+00", "B"]);
    });

    it("as a process: a misspelled flag exits 2 naming it", () => {
        const run = (...args: string[]) =>
            spawnSync(process.execPath, ["-r", "ts-node/register", path.join(ROOT, "ops", "status.ts"), ...args], {
                encoding: "utf8",
                cwd: ROOT,
                env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" },
            });
        const bad = run("--outputs", "x.json", "--jsno");
        assert.equal(bad.status, 2, bad.stderr);
        assert.match(bad.stderr, /^error: Unknown option '--jsno'/);
    });
});
