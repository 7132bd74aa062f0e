// The Barman container's helper script (images/barman/barman_ha.py), run with the host's python3.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { CRON_SAMPLES } from "../../../support/cronSamples";

/** Debian's python3 as the image has it; a version manager's shim on PATH costs half a second a call. */
const PYTHON = process.env.PYTHON ?? (fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
const SCRIPT = path.join(__dirname, "..", "..", "..", "..", "images", "barman", "barman_ha.py");

function py(code: string): string {
    const r = spawnSync(
        PYTHON,
        [
            "-c",
            `import importlib.util as u; s=u.spec_from_file_location("b", ${JSON.stringify(SCRIPT)}); m=u.module_from_spec(s); s.loader.exec_module(m)\n${code}`,
        ],
        { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
}

describe("Barman helper: backup schedule (croniter)", () => {
    it("accepts exactly what the deploy-time check accepts", () => {
        const r = spawnSync(PYTHON, [SCRIPT, "cron-check", ...CRON_SAMPLES.map(s => s.expr)], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        const verdicts = JSON.parse(r.stdout) as boolean[];
        assert.deepEqual(
            CRON_SAMPLES.filter((s, i) => verdicts[i] !== s.valid).map(s => s.expr),
            [],
            "expressions where croniter and lib/cron.ts disagree",
        );
    });

    it("a slot is due once; a slot missed while the container was down is caught up once, not skipped", () => {
        const out = py(`import datetime as d
u = d.timezone.utc
t = lambda h, mi, day=26: d.datetime(2026, 11, day, h, mi, 20, tzinfo=u)
f = lambda x: x and x.strftime("%d %H:%M")
print([
  f(m.due_slot("0 3 * * *", None, t(3, 0))),                      # first start: baseline only
  f(m.due_slot("0 3 * * *", t(3, 0, 25), t(3, 0))),                # the minute itself
  f(m.due_slot("0 3 * * *", t(3, 0), t(3, 1))),                    # handled already
  f(m.due_slot("0 3 * * *", t(3, 0, 25), t(3, 7))),                # down at 03:00, back 03:07: caught up
  f(m.due_slot("0 3 * * *", t(3, 0, 23), t(9, 0))),                # three days missed: one backup
  f(m.due_slot("0 3 * * *", t(3, 0, 25), t(2, 59))),               # not yet
  f(m.due_slot("*/3 * * * *", t(19, 39), t(19, 44))),              # the newest missed slot
  f(m.due_slot("30 2 * * MON-FRI", t(2, 30, 20), t(12, 0, 23))),   # weekday names: Friday the 20th, then Monday
  f(m.due_slot("", t(3, 0, 25), t(3, 0))),
])`);
        assert.equal(out, "[None, '26 03:00', None, '26 03:00', '26 03:00', None, '26 19:42', '23 02:30', None]");
    });

    it("records the slot: due once, then not again; a broken schedule is an error, not silence", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "due-"));
        const stamp = path.join(dir, "stamp");
        const run = (expr: string) => spawnSync(PYTHON, [SCRIPT, "due", expr, stamp], { encoding: "utf8" });
        assert.equal(run("* * * * *").status, 1, "the first call sets the baseline");
        fs.writeFileSync(stamp, "2026-01-01T00:00");
        const caughtUp = run("* * * * *");
        assert.equal(caughtUp.status, 0, "a slot after the recorded one is due");
        assert.match(caughtUp.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d UTC\n$/);
        assert.equal(run("* * * * *").status, 1, "not twice for the same slot");
        fs.writeFileSync(stamp, "2026-01-01T00:00");
        // A daily slot 5 minutes ago, whatever the time now (an hourly one is not late at the top of the hour).
        const ago = new Date(Date.now() - 5 * 60_000);
        assert.match(run(`${ago.getUTCMinutes()} ${ago.getUTCHours()} * * *`).stdout, /missed by [5-6] min: catching up/);
        assert.equal(run("").status, 1, "an empty schedule is never due");
        const bad = run("a b c d e");
        assert.equal(bad.status, 2);
        assert.match(bad.stderr, /not a valid schedule/);
        fs.rmSync(dir, { recursive: true });
    });
});

describe("Barman helper: clearing errors/", () => {
    const seg = (fill: number, used: number) => {
        const b = Buffer.alloc(1024);
        b.fill(fill, 0, used);
        return b;
    };
    let home: string;
    const write = (rel: string, data: Buffer) => {
        fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
        fs.writeFileSync(path.join(home, rel), data);
    };
    const errors = () => fs.readdirSync(path.join(home, "cluster", "errors")).sort();
    beforeEach(() => {
        home = fs.mkdtempSync(path.join(os.tmpdir(), "barman-"));
    });
    afterEach(() => fs.rmSync(home, { recursive: true }));

    it("removes only files whose content is already archived, and keeps the rest", () => {
        const archived = seg(7, 600);
        write("cluster/wals/0000000100000000/000000010000000000000005", zlib.gzipSync(archived)); // compressed, as Barman stores it
        write("cluster/wals/0000000200000000/000000020000000000000009", seg(9, 800)); // new timeline's first segment
        write("cluster/errors/000000010000000000000005.20261125T220000.duplicate", archived); // true duplicate
        write("cluster/errors/000000010000000000000009.partial.20261125T220000.unknown", seg(9, 500)); // old-timeline partial, contained in TL 2
        write("cluster/errors/000000010000000000000009.20261125T220001.duplicate", seg(8, 500)); // differs: WAL never replicated
        write("cluster/errors/00000001000000000000000A.20261125T220002.duplicate", seg(7, 10)); // nothing archived to compare
        const r = spawnSync(PYTHON, [SCRIPT, "clean-errors", "cluster"], {
            env: { ...process.env, BARMAN_HOME_OVERRIDE: home },
            encoding: "utf8",
        });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(errors(), [
            "000000010000000000000009.20261125T220001.duplicate",
            "00000001000000000000000A.20261125T220002.duplicate",
        ]);
        assert.match(r.stderr, /removed errors\/000000010000000000000005.*archived in 000000010000000000000005/);
    });
});

describe("Barman helper: the segment in which a timeline ended", () => {
    // Segment 3 of timeline 1; timeline 2 began at 0/3000100 (its history file says so).
    const SEG = 3 * 16 * 1024 * 1024,
        PAGE = 8192,
        SIZE = 4 * PAGE;
    const page = (offset: number, tli: number, address: number, fill: number) => {
        const p = Buffer.alloc(PAGE, fill);
        p.writeUInt16LE(0xd110, 0);
        p.writeUInt16LE(0, 2);
        p.writeUInt32LE(tli, 4);
        p.writeBigUInt64LE(BigInt(address), 8);
        return { offset, p };
    };
    const segment = (pages: { offset: number; p: Buffer }[], head = 0x100) => {
        const b = Buffer.alloc(SIZE);
        const first = page(0, 1, SEG, 7).p;
        first.copy(b, 0, 0, head);
        for (const x of pages) {
            x.p.copy(b, x.offset);
        }
        return b;
    };
    let home: string;
    const write = (rel: string, data: Buffer) => {
        fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
        fs.writeFileSync(path.join(home, rel), data);
    };
    const clean = () =>
        spawnSync(PYTHON, [SCRIPT, "clean-errors", "cluster"], { env: { ...process.env, BARMAN_HOME_OVERRIDE: home }, encoding: "utf8" });
    beforeEach(() => {
        home = fs.mkdtempSync(path.join(os.tmpdir(), "barman-"));
        write("cluster/wals/00000002.history", zlib.gzipSync(Buffer.from("1\t0/3000100\tno recovery target specified\n")));
        write("cluster/wals/0000000100000000/000000010000000000000003", zlib.gzipSync(segment([])));
    });
    afterEach(() => fs.rmSync(home, { recursive: true }));

    it("drops a copy that differs only past the timeline's end by recycled pages (after a switchover)", () => {
        write(
            "cluster/errors/000000010000000000000003.20261126T135917Z.duplicate",
            segment([page(PAGE, 1, 0x1000000 + PAGE, 5), page(2 * PAGE, 1, 0x1000000 + 2 * PAGE, 5)]),
        );
        const r = clean();
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(fs.readdirSync(path.join(home, "cluster", "errors")), []);
        assert.match(r.stderr, /up to the end of timeline 1 \(0\/3000100\)/);
    });

    it("moves a copy with WAL of that timeline past its end (what an old primary wrote and never replicated) to diverged/, out of errors/", () => {
        const name = "000000010000000000000003.20261126T135917Z.duplicate";
        const copy = segment([page(PAGE, 1, SEG + PAGE, 5)]);
        write(`cluster/errors/${name}`, copy);
        const r = clean();
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(fs.readdirSync(path.join(home, "cluster", "errors")), [], "barman check no longer counts it");
        assert.deepEqual(fs.readFileSync(path.join(home, "cluster", "diverged", name)), copy, "kept, byte for byte");
        assert.match(r.stderr, /moved errors\/000000010000000000000003\S* to diverged\/: .*after the failover/);
    });

    it("keeps a copy that differs before the timeline's end", () => {
        const b = segment([]);
        b[0x80] ^= 0xff;
        write("cluster/errors/000000010000000000000003.20261126T135917Z.duplicate", b);
        assert.equal(clean().status, 0);
        assert.equal(fs.readdirSync(path.join(home, "cluster", "errors")).length, 1);
    });
});

describe("Barman helper: the two copies of a segment closed by a WAL switch", () => {
    // Segment 5 of timeline 2, no timeline end in it: pg_receivewal's copy is zero past the switch, the
    // node's (archive_command's) keeps recycled pages there; whichever Barman archives first, the other is a
    // "duplicate" that adds nothing.
    const SEG = 5 * 16 * 1024 * 1024,
        PAGE = 8192,
        NAME = "000000020000000000000005";
    const page = (tli: number, address: number, fill: number) => {
        const p = Buffer.alloc(PAGE, fill);
        p.writeUInt16LE(0xd110, 0);
        p.writeUInt32LE(tli, 4);
        p.writeBigUInt64LE(BigInt(address), 8);
        return p;
    };
    const written = [page(2, SEG, 7), page(2, SEG + PAGE, 8)];
    const zeroTail = Buffer.concat([...written, Buffer.alloc(2 * PAGE)]);
    const recycledTail = Buffer.concat([...written, page(1, 0x1000000 + 2 * PAGE, 5), page(1, 0x1000000 + 3 * PAGE, 5)]);
    let home: string;
    const put = (rel: string, data: Buffer) => {
        fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
        fs.writeFileSync(path.join(home, rel), data);
    };
    const cleanWith = (archived: Buffer, duplicate: Buffer) => {
        put(`cluster/wals/0000000200000000/${NAME}`, zlib.gzipSync(archived));
        put(`cluster/errors/${NAME}.20261127T175724Z.duplicate`, duplicate);
        const r = spawnSync(PYTHON, [SCRIPT, "clean-errors", "cluster"], {
            env: { ...process.env, BARMAN_HOME_OVERRIDE: home },
            encoding: "utf8",
        });
        assert.equal(r.status, 0, r.stderr);
        return { left: fs.readdirSync(path.join(home, "cluster", "errors")), stderr: r.stderr };
    };
    beforeEach(() => (home = fs.mkdtempSync(path.join(os.tmpdir(), "barman-"))));
    afterEach(() => fs.rmSync(home, { recursive: true }));

    it("drops the node's copy (recycled pages past the switch) when the zero-filled one is archived, and the other way round", () => {
        const a = cleanWith(zeroTail, recycledTail);
        assert.deepEqual(a.left, []);
        assert.match(a.stderr, /holds no WAL of that address/);
        assert.deepEqual(cleanWith(recycledTail, zeroTail).left, []);
    });

    it("drops a copy that only lacks pages the archived one has (zeros where it has WAL)", () => {
        assert.deepEqual(cleanWith(zeroTail, Buffer.concat([Buffer.alloc(PAGE), written[1], Buffer.alloc(2 * PAGE)])).left, []);
    });

    it("keeps a copy with a page of real WAL that differs (something the archive does not have)", () => {
        const other = Buffer.concat([written[0], page(2, SEG + PAGE, 9), Buffer.alloc(2 * PAGE)]);
        assert.equal(cleanWith(zeroTail, other).left.length, 1);
        // explain-errors tells an operator which page differs and what each copy holds there.
        const why = spawnSync(PYTHON, [SCRIPT, "explain-errors", "cluster"], {
            env: { ...process.env, BARMAN_HOME_OVERRIDE: home },
            encoding: "utf8",
        });
        assert.equal(why.status, 0, why.stderr);
        assert.match(why.stdout, new RegExp(`^${NAME}\\.20261127T175724Z\\.duplicate: 1 of 4 pages differ from the archived copy`, "m"));
        assert.match(
            why.stdout,
            /page at 8192 \(WAL 0\/5002000\): archived magic D110 tli 2 addr 0\/5002000; this copy magic D110 tli 2 addr 0\/5002000/,
        );
        const beyond = Buffer.concat([...written, page(2, SEG + 2 * PAGE, 4), Buffer.alloc(PAGE)]);
        assert.equal(cleanWith(zeroTail, beyond).left.length, 1, "WAL past the archived copy's end");
    });
});

describe("Barman helper: is there a finished backup", () => {
    it("a backup left STARTED (the container stopped mid-backup) or FAILED does not count; DONE and WAITING_FOR_WALS do", () => {
        const home = fs.mkdtempSync(path.join(os.tmpdir(), "barman-"));
        const write = (id: string, status: string) => {
            fs.mkdirSync(path.join(home, "cluster/base", id), { recursive: true });
            fs.writeFileSync(path.join(home, "cluster/base", id, "backup.info"), `backup_id=${id}\nstatus=${status}\n`);
        };
        const hasBackup = () =>
            spawnSync(PYTHON, [SCRIPT, "has-backup", "cluster"], { env: { ...process.env, BARMAN_HOME_OVERRIDE: home }, encoding: "utf8" });
        assert.equal(hasBackup().status, 1, "no backup at all");
        write("20261127T230917", "STARTED");
        write("20261127T231000", "FAILED");
        const r = hasBackup();
        assert.equal(r.status, 1, "an interrupted and a failed backup are no finished one");
        assert.match(r.stderr, /backup 20261127T230917 is STARTED: no finished backup yet/);
        assert.match(r.stderr, /backup 20261127T231000 is FAILED/);
        write("20261127T232000", "WAITING_FOR_WALS");
        assert.equal(hasBackup().status, 0);
        fs.rmSync(path.join(home, "cluster/base/20261127T232000"), { recursive: true });
        write("20261127T233000", "DONE");
        assert.equal(hasBackup().status, 0);
        fs.rmSync(home, { recursive: true });
    });
});

describe("Barman helper: WAL gaps", () => {
    const names = [
        "000000010000000000000002",
        "000000010000000000000005",
        "000000010000000000000005.00000028.backup",
        "000000010000000000000006",
        "000000010000000000000007",
        "00000001000000000000000B.partial",
        "00000002.history",
        "000000020000000000000007",
        "000000020000000000000008",
    ];
    const gaps = (list: string[], from?: string) =>
        JSON.parse(py(`import json; print(json.dumps(m.wal_gaps(${JSON.stringify(list)}, ${from ? JSON.stringify(from) : "None"})))`));

    it("counts only from a backup's begin WAL, and follows timeline switches", () => {
        assert.deepEqual(gaps(names, "000000010000000000000005"), []);
        assert.deepEqual(gaps(names), ["000000010000000000000003", "000000010000000000000004"]);
    });

    it("finds a hole inside a timeline and between timelines", () => {
        assert.deepEqual(
            gaps(
                names.filter(n => n !== "000000010000000000000006"),
                "000000010000000000000005",
            ),
            ["000000010000000000000006"],
        );
        assert.deepEqual(gaps(["000000010000000000000005", "000000020000000000000009"], "000000010000000000000005"), [
            "000000010000000000000006 (between timeline 1 and 2)",
        ]);
    });

    it("reports gaps since the oldest and since the newest finished backup from Barman's own files", () => {
        const home = fs.mkdtempSync(path.join(os.tmpdir(), "barman-"));
        const write = (rel: string, text: string) => {
            fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
            fs.writeFileSync(path.join(home, rel), text);
        };
        for (const n of [5, 6, 8, 9, 10]) {
            write(`cluster/wals/0000000100000000/00000001000000000000000${n.toString(16).toUpperCase()}`, "x");
        }
        write("cluster/base/20261125T010000/backup.info", "begin_wal=000000010000000000000005\nstatus=DONE\n");
        write("cluster/base/20261125T020000/backup.info", "begin_wal=000000010000000000000009\nstatus=DONE\n");
        write("cluster/base/20261125T030000/backup.info", "begin_wal=00000001000000000000000A\nstatus=FAILED\n");
        const report = () => {
            const r = spawnSync(PYTHON, [SCRIPT, "gaps", "cluster"], {
                env: { ...process.env, BARMAN_HOME_OVERRIDE: home },
                encoding: "utf8",
            });
            assert.equal(r.status, 0, r.stderr);
            return JSON.parse(r.stdout);
        };
        assert.deepEqual(report(), {
            since_oldest_backup: ["000000010000000000000007"],
            since_newest_backup: [],
            newest_backup: "20261125T020000",
        });
        fs.rmSync(path.join(home, "cluster/wals/0000000100000000/000000010000000000000009"));
        fs.rmSync(path.join(home, "cluster/base/20261125T020000"), { recursive: true });
        write("cluster/wals/0000000100000000/00000001000000000000000B", "x");
        assert.deepEqual(report().since_newest_backup, ["000000010000000000000007", "000000010000000000000009"]);
        fs.rmSync(home, { recursive: true });
    });

    it("switch-wal: a committed message, then the switch, as two transactions through Barman's conninfo; prints the segment", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switch-"));
        fs.writeFileSync(path.join(dir, "cluster.conf"), "[cluster]\nconninfo = host=10.0.0.2 user=barman dbname=postgres\n");
        fs.writeFileSync(
            path.join(dir, "psql"),
            `#!/bin/sh\nfor a in "$@"; do echo "$a"; done > ${dir}/argv\necho 0/3000060\necho 000000010000000000000003\n`,
            { mode: 0o755 },
        );
        const out = spawnSync(
            PYTHON,
            [
                "-c",
                `import importlib.util as u; s=u.spec_from_file_location("b", ${JSON.stringify(SCRIPT)}); m=u.module_from_spec(s); s.loader.exec_module(m); raise SystemExit(m.switch_wal("cluster", ${JSON.stringify(dir)}))`,
            ],
            {
                encoding: "utf8",
                env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
            },
        );
        assert.equal(out.status, 0, out.stderr);
        assert.equal(out.stdout.trim(), "000000010000000000000003");
        assert.deepEqual(fs.readFileSync(path.join(dir, "argv"), "utf8").trim().split("\n"), [
            "host=10.0.0.2 user=barman dbname=postgres",
            "-XAt",
            "-c",
            "SELECT pg_logical_emit_message(true, 'patroni-ha', 'switch-wal')",
            "-c",
            "SELECT pg_walfile_name(pg_switch_wal())",
        ]);
        fs.rmSync(dir, { recursive: true });
    });

    it("metrics carry the CA certificate's end, read with openssl; none without a readable certificate", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ca-"));
        const ca = path.join(dir, "ca.pem");
        const made = spawnSync(
            "openssl",
            [
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                path.join(dir, "k"),
                "-out",
                ca,
                "-subj",
                "/CN=t",
                "-days",
                "40",
            ],
            { encoding: "utf8" },
        );
        assert.equal(made.status, 0, made.stderr);
        const notAfter = Number(py(`print(m.certificate_not_after(${JSON.stringify(ca)}))`));
        const daysLeft = (notAfter * 1000 - Date.now()) / 86400000;
        assert.ok(daysLeft > 39.9 && daysLeft <= 40, `${daysLeft} days`);
        assert.equal(
            py(`print(m.certificate_not_after(${JSON.stringify(path.join(dir, "k"))}), m.certificate_not_after("/nonexistent"))`),
            "None None",
        );
        const out = py(`import datetime as d
print(m.render_metrics("cluster", 0, {}, [], 0, "", d.datetime(2026, 11, 26, tzinfo=d.timezone.utc), ca_not_after=${notAfter}))`);
        assert.match(out, new RegExp(`^patroni_ha_ca_certificate_expiry_timestamp_seconds ${notAfter}$`, "m"));
        assert.doesNotMatch(
            py(`import datetime as d
print(m.render_metrics("cluster", 0, {}, [], 0, "", d.datetime(2026, 11, 26, tzinfo=d.timezone.utc)))`),
            /certificate/,
        );
        fs.rmSync(dir, { recursive: true });
    });

    it("metrics carry both gap counts", () => {
        const out = py(`import datetime as d
print(m.render_metrics("cluster", 0, {"ssh": True}, [], 0, "", d.datetime(2026, 11, 26, tzinfo=d.timezone.utc), {"since_oldest_backup": ["a", "b"], "since_newest_backup": ["b"]}))`);
        assert.match(out, /^barman_wal_gaps\{server="cluster",scope="since_oldest_backup"\} 2$/m);
        assert.match(out, /^barman_wal_gaps\{server="cluster",scope="since_newest_backup"\} 1$/m);
    });
});

describe("Barman helper: verification and restore drill state", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "barman-verify-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true }));

    /** A catalogue with finished backups (a manifest on the last), and a fake `barman` whose verify-backup fails when told to. */
    function setUp(ids: string[], failVerify: boolean): Record<string, string> {
        for (const id of ids) {
            fs.mkdirSync(path.join(dir, "home", "cluster", "base", id, "data"), { recursive: true });
            fs.writeFileSync(
                path.join(dir, "home", "cluster", "base", id, "backup.info"),
                "status=DONE\nbegin_wal=000000010000000000000002\n",
            );
        }
        fs.writeFileSync(path.join(dir, "home", "cluster", "base", ids[ids.length - 1], "data", "backup_manifest"), "{}");
        fs.mkdirSync(path.join(dir, "bin"));
        fs.writeFileSync(
            path.join(dir, "bin", "barman"),
            `#!/bin/sh\necho "$*" >> ${dir}/calls\nif [ "$1" = verify-backup ] && [ -n "$FAIL_VERIFY" ]; then echo "Verifying backup"; echo "checksum mismatch for file base/5/1259"; echo "2026-11-26 23:29:44,880 [993] barman.backup ERROR: checksum mismatch for file base/5/1259"; echo "ERROR: checksum mismatch for file base/5/1259"; exit 1; fi\n`,
            { mode: 0o755 },
        );
        fs.mkdirSync(path.join(dir, "state"));
        return {
            PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
            BARMAN_HOME_OVERRIDE: path.join(dir, "home"),
            BARMAN_HA_STATE_DIR: path.join(dir, "state"),
            ...(failVerify ? { FAIL_VERIFY: "1" } : {}),
        };
    }
    const run = (env: Record<string, string>, ...args: string[]) => spawnSync(PYTHON, [SCRIPT, ...args], { encoding: "utf8", env });
    const calls = () => (fs.existsSync(path.join(dir, "calls")) ? fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n") : []);

    it("verifies the newest backup once (check-backup, and verify-backup when it has a manifest) and records the verdict", () => {
        const env = setUp(["20261125T030000", "20261126T030000"], false);
        const r = run(env, "verify-new", "cluster");
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /backup 20261126T030000: verified/);
        assert.deepEqual(calls(), ["check-backup cluster 20261126T030000", "verify-backup cluster 20261126T030000"]);
        assert.equal(run(env, "verify-new", "cluster").status, 0);
        assert.equal(calls().length, 2, "not verified twice");
        const state = JSON.parse(run(env, "state").stdout);
        assert.equal(state.verify.backup, "20261126T030000");
        assert.equal(state.verify.ok, true);
        assert.equal(state.verify_ok_at, state.verify.at);
        // Without a manifest (rsync backups) only check-backup runs.
        assert.equal(run(env, "verify", "cluster", "20261125T030000").status, 0);
        assert.deepEqual(calls().slice(2), ["check-backup cluster 20261125T030000"]);
    });

    it("a failed verification is recorded with Barman's words and exits 1", () => {
        const env = setUp(["20261126T030000"], true);
        const r = run(env, "verify-new", "cluster");
        assert.equal(r.status, 1);
        assert.match(r.stdout, /VERIFICATION FAILED: verify-backup: Verifying backup; checksum mismatch for file base\/5\/1259\n$/);
        const state = JSON.parse(run(env, "state").stdout);
        assert.equal(state.verify.ok, false);
        // One line, Barman's echo of each message as a log line dropped.
        assert.equal(state.verify.detail, "verify-backup: Verifying backup; checksum mismatch for file base/5/1259");
        assert.equal(state.verify_ok_at, undefined);
    });

    it("a drill with no finished backup fails and says so", () => {
        const env = setUp(["20261126T030000"], false);
        fs.rmSync(path.join(dir, "home", "cluster", "base"), { recursive: true });
        const r = run(env, "drill", "cluster");
        assert.equal(r.status, 1);
        assert.match(r.stdout, /FAILED: no finished backup to restore/);
        assert.equal(JSON.parse(run(env, "state").stdout).drill.ok, false);
    });

    it("metrics: the verdicts once known, and the age of the last success counted from the state's start until then", () => {
        const out = py(`import datetime as d
now = d.datetime(2026, 11, 26, 12, tzinfo=d.timezone.utc)
t = now.timestamp()
print(m.render_metrics("cluster", 0, {}, [], 0, "", now, None, {"since": t - 7200, "verify": {"ok": True}, "verify_ok_at": t - 60, "drill": {"ok": False, "seconds": 12.5}}))
print(m.render_metrics("cluster", 0, {}, [], 0, "", now, None, {"since": t - 300}))`);
        const [known, fresh] = out.split("# HELP barman_check_ok").slice(1);
        assert.match(known, /^barman_last_verify_ok\{server="cluster"\} 1$/m);
        assert.match(known, /^barman_last_verify_success_age_seconds\{server="cluster"\} 60$/m);
        assert.match(known, /^barman_restore_drill_ok\{server="cluster"\} 0$/m);
        assert.match(known, /^barman_restore_drill_success_age_seconds\{server="cluster"\} 7200$/m, "never succeeded: since the start");
        assert.match(known, /^barman_restore_drill_seconds\{server="cluster"\} 12\.5$/m);
        assert.doesNotMatch(fresh, /barman_restore_drill_ok|barman_last_verify_ok/, "no verdict before the first run");
        assert.match(fresh, /^barman_restore_drill_success_age_seconds\{server="cluster"\} 300$/m);
    });
});

describe("Barman helper: volume usage", () => {
    it("reports only real mounts, and renders size and available bytes per volume", () => {
        const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "not-a-mount-"));
        try {
            const r = spawnSync(
                PYTHON,
                [
                    "-c",
                    `import importlib.util as u, json; s=u.spec_from_file_location("b", ${JSON.stringify(SCRIPT)}); m=u.module_from_spec(s); s.loader.exec_module(m); print(json.dumps(m.volume_usage()))`,
                ],
                { encoding: "utf8", env: { ...process.env, BARMAN_BACKUPS: "/", HOME: scratch, WAL_SHARE: "" } },
            );
            assert.equal(r.status, 0, r.stderr);
            const usage = JSON.parse(r.stdout) as Record<string, [number, number]>;
            assert.deepEqual(Object.keys(usage), ["backups"], "a directory that is not a mount point is left out");
            const [size, available] = usage.backups;
            assert.ok(size > 0 && available >= 0 && available <= size, `${size} ${available}`);
        } finally {
            fs.rmSync(scratch, { recursive: true });
        }
        const out = py(`import datetime as d
print(m.render_metrics("cluster", 0, {}, [], 0, "", d.datetime(2026, 11, 26, tzinfo=d.timezone.utc), None, None, {"backups": (1000, 50), "wal_share": (2000, 1500)}))`);
        assert.match(out, /^barman_volume_size_bytes\{volume="backups"\} 1000$/m);
        assert.match(out, /^barman_volume_available_bytes\{volume="backups"\} 50$/m);
        assert.match(out, /^barman_volume_available_bytes\{volume="wal_share"\} 1500$/m);
    });
});
