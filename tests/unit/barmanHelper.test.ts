// The Barman container's helper script (images/barman/barman_ha.py), run with the host's python3.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";

const SCRIPT = path.join(__dirname, "..", "..", "images", "barman", "barman_ha.py");

function py(code: string): string {
    const r = spawnSync("python3", ["-c", `import importlib.util as u; s=u.spec_from_file_location("b", ${JSON.stringify(SCRIPT)}); m=u.module_from_spec(s); s.loader.exec_module(m)\n${code}`], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
}

describe("Barman helper: backup schedule", () => {
    it("matches standard 5-field cron expressions in UTC", () => {
        const out = py(`import datetime as d
t = d.datetime(2026, 11, 25, 3, 0)  # a Wednesday
print([m.cron_matches(e, t) for e in ["0 3 * * *", "*/15 * * * *", "0 3 * * 1-5", "0 4 * * *", "0 3 * * 0,6", "0 3 25 * 0", "0 3 1 * *", "0 3 * 11 3"]])`);
        assert.equal(out, "[True, True, True, False, False, True, False, True]");
    });

    it("is due once per matching minute", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "due-"));
        const stamp = path.join(dir, "stamp");
        const run = (expr: string) => spawnSync("python3", [SCRIPT, "due", expr, stamp]).status;
        assert.equal(run("* * * * *"), 0, "due the first time in this minute");
        assert.equal(run("* * * * *"), 1, "not twice in the same minute");
        assert.equal(run(""), 1, "an empty schedule is never due");
        fs.rmSync(dir, { recursive: true });
    });
});

describe("Barman helper: clearing errors/", () => {
    const seg = (fill: number, used: number) => { const b = Buffer.alloc(1024); b.fill(fill, 0, used); return b; };
    let home: string;
    const write = (rel: string, data: Buffer) => { fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true }); fs.writeFileSync(path.join(home, rel), data); };
    const errors = () => fs.readdirSync(path.join(home, "cluster", "errors")).sort();
    beforeEach(() => { home = fs.mkdtempSync(path.join(os.tmpdir(), "barman-")); });
    afterEach(() => fs.rmSync(home, { recursive: true }));

    it("removes only files whose content is already archived, and keeps the rest", () => {
        const archived = seg(7, 600);
        write("cluster/wals/0000000100000000/000000010000000000000005", zlib.gzipSync(archived));       // compressed, as Barman stores it
        write("cluster/wals/0000000200000000/000000020000000000000009", seg(9, 800));                    // new timeline's first segment
        write("cluster/errors/000000010000000000000005.20261125T220000.duplicate", archived);             // true duplicate
        write("cluster/errors/000000010000000000000009.partial.20261125T220000.unknown", seg(9, 500));    // old-timeline partial, contained in TL 2
        write("cluster/errors/000000010000000000000009.20261125T220001.duplicate", seg(8, 500));          // differs: WAL never replicated
        write("cluster/errors/00000001000000000000000A.20261125T220002.duplicate", seg(7, 10));           // nothing archived to compare
        const r = spawnSync("python3", [SCRIPT, "clean-errors", "cluster"], { env: { ...process.env, BARMAN_HOME_OVERRIDE: home }, encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(errors(), ["000000010000000000000009.20261125T220001.duplicate", "00000001000000000000000A.20261125T220002.duplicate"]);
        assert.match(r.stderr, /removed errors\/000000010000000000000005.*archived in 000000010000000000000005/);
    });
});
