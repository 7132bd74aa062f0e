// The Patroni image's scripts (images/patroni/*.sh), run on the host with fakes on PATH where they call
// PostgreSQL or Patroni. Passwords reach psql on stdin, never in its argv (which `ps` and /proc show to
// every process in the container).
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Run `body` with a scratch folder, removed afterwards; its result. */
function inScratch<T>(prefix: string, body: (dir: string) => T): T {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    try {
        return body(dir);
    } finally {
        fs.rmSync(dir, { recursive: true });
    }
}

/** A `psql` in `dir` that records its argv and stdin in dir/argv and dir/stdin. */
function fakePsql(dir: string): void {
    fs.writeFileSync(path.join(dir, "psql"), `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/argv\ncat > ${dir}/stdin\n`, { mode: 0o755 });
}

const SCRIPT = path.join(__dirname, "..", "..", "..", "..", "images", "patroni", "post-bootstrap.sh");

describe("patroni-post-bootstrap (images/patroni/post-bootstrap.sh)", () => {
    it("creates the roles with the environment's passwords, passed on stdin and not on psql's command line", () => {
        inScratch("fakepsql-", dir => {
            fakePsql(dir);
            const passwords = {
                APP_PASSWORD: "appPw1",
                BARMAN_PASSWORD: "barmanPw2",
                STREAMING_BARMAN_PASSWORD: "strPw3",
                MONITOR_PASSWORD: "monPw4",
            };
            // As patroni-entrypoint writes them: one file, no password in the environment.
            const file = path.join(dir, "roles");
            fs.writeFileSync(
                file,
                `superuser=su0\napp=${passwords.APP_PASSWORD}\nbarman=${passwords.BARMAN_PASSWORD}\nstreaming_barman=${passwords.STREAMING_BARMAN_PASSWORD}\nmonitor=${passwords.MONITOR_PASSWORD}\n`,
                { mode: 0o600 },
            );
            const r = spawnSync("sh", [SCRIPT, "postgres://postgres@localhost/postgres"], {
                encoding: "utf8",
                env: { PATH: `${dir}:${process.env.PATH}`, APP_USER: "shop", APP_DATABASE: "shopdb", ROLE_PASSWORDS_FILE: file },
            });
            assert.equal(r.status, 0, r.stderr);
            const argv = fs.readFileSync(path.join(dir, "argv"), "utf8");
            const stdin = fs.readFileSync(path.join(dir, "stdin"), "utf8");
            for (const pw of Object.values(passwords)) {
                assert.ok(!argv.includes(pw), `a password on psql's command line: ${argv}`);
            }
            assert.match(argv, /^app_user=shop$/m);
            assert.match(argv, /^app_db=shopdb$/m);
            for (const [name, pw] of [
                ["app_password", "appPw1"],
                ["barman_password", "barmanPw2"],
                ["streaming_password", "strPw3"],
                ["monitor_password", "monPw4"],
            ]) {
                assert.ok(stdin.includes(`\\set ${name} '${pw}'\n`), `${name} set on stdin`);
                assert.match(stdin, new RegExp(`PASSWORD :'${name}'`), `${name} used by the SQL`);
            }
            assert.ok(stdin.indexOf("\\set") < stdin.indexOf("CREATE ROLE"), "variables set before the SQL that uses them");
        });
    });
});

describe("patroni-sync-passwords (images/patroni/sync-passwords.sh)", () => {
    it("creates a missing application role and database (an `app` change), then sets every password, all on stdin", () => {
        inScratch("fakepsql-", dir => {
            fakePsql(dir);
            const passwords = { app: "appPw1", barman: "barmanPw2", streaming_barman: "strPw3", monitor: "monPw4" };
            fs.writeFileSync(
                path.join(dir, "roles"),
                "superuser=suPw0\nreplication=replPw1\nrewind=rwPw2\n" +
                    Object.entries(passwords)
                        .map(([k, v]) => `${k}=${v}\n`)
                        .join(""),
                { mode: 0o600 },
            );
            const r = spawnSync("sh", [path.join(path.dirname(SCRIPT), "sync-passwords.sh")], {
                encoding: "utf8",
                env: {
                    PATH: `${dir}:${process.env.PATH}`,
                    PG_PORT: "5431",
                    ROLE_PASSWORDS_FILE: path.join(dir, "roles"),
                    APP_USER: "shop",
                    APP_DATABASE: "shopdb",
                },
            });
            assert.equal(r.status, 0, r.stderr);
            const argv = fs.readFileSync(path.join(dir, "argv"), "utf8");
            const stdin = fs.readFileSync(path.join(dir, "stdin"), "utf8");
            for (const pw of [...Object.values(passwords), "suPw0", "replPw1", "rwPw2"]) {
                assert.ok(!argv.includes(pw), `a password on psql's command line: ${argv}`);
                assert.ok(stdin.includes(`\\set pw '${pw}'\n`), `${pw} set on stdin`);
            }
            const createRole = stdin.indexOf("SELECT format('CREATE ROLE %I LOGIN', :'app_user') WHERE NOT EXISTS");
            const createDb = stdin.indexOf("SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user') WHERE NOT EXISTS");
            assert.ok(createRole > stdin.indexOf("\\set app_user 'shop'\n") && createRole > 0, "the role only when missing, by name");
            assert.ok(createDb > createRole && stdin.indexOf("\\set app_db 'shopdb'\n") > 0, "then its database");
            assert.ok(stdin.indexOf('ALTER ROLE "shop" PASSWORD') > createDb, "the password after the role exists");
            assert.match(stdin, /\\gexec\n/);
        });
    });
});

describe("patroni-sync-passwords with the passwords on stdin (how a rollout sets rotated passwords)", () => {
    it("reads the passwords from stdin (ROLE_PASSWORDS_FILE=-) and sets each password, none on psql's command line", () => {
        inScratch("fakepsql-", dir => {
            fakePsql(dir);
            const r = spawnSync("sh", [path.join(path.dirname(SCRIPT), "sync-passwords.sh")], {
                encoding: "utf8",
                input: "superuser=newSu1\nreplication=newRepl2\n",
                env: { PATH: `${dir}:${process.env.PATH}`, PG_PORT: "5431", ROLE_PASSWORDS_FILE: "-" },
            });
            assert.equal(r.status, 0, r.stderr);
            const stdin = fs.readFileSync(path.join(dir, "stdin"), "utf8");
            assert.ok(stdin.includes("\\set pw 'newSu1'\nALTER ROLE \"postgres\" PASSWORD :'pw';"), stdin);
            assert.ok(stdin.includes("\\set pw 'newRepl2'\nALTER ROLE \"replicator\" PASSWORD :'pw';"), stdin);
            assert.doesNotMatch(fs.readFileSync(path.join(dir, "argv"), "utf8"), /new/);
        });
    });
});

describe("patroni-entrypoint (images/patroni/entrypoint.sh)", () => {
    it("writes every role password to a 0600 file and starts Patroni (and sshd) with no password but Patroni's own in the environment", () => {
        inScratch("entrypoint-", dir => {
            // Fakes that record what they were started with.
            fs.writeFileSync(path.join(dir, "patroni"), `#!/bin/sh\nenv > ${dir}/patroni.env\necho "$@" > ${dir}/patroni.argv\n`, {
                mode: 0o755,
            });
            fs.writeFileSync(path.join(dir, "ssh-start"), `#!/bin/sh\nenv > ${dir}/ssh.env\n`, { mode: 0o755 });
            const file = path.join(dir, "roles");
            const secrets = {
                PATRONI_SUPERUSER_PASSWORD: "suPw0",
                PATRONI_REPLICATION_PASSWORD: "replPw1",
                PATRONI_REWIND_PASSWORD: "rwPw2",
                PATRONI_RESTAPI_PASSWORD: "apiPw9",
                APP_PASSWORD: "appPw3",
                BARMAN_PASSWORD: "barmanPw4",
                STREAMING_BARMAN_PASSWORD: "strPw5",
                MONITOR_PASSWORD: "monPw6",
                SSH_HOST_KEY_B64: "hostKey7",
                SSH_CLIENT_KEY_B64: "clientKey8",
            };
            const r = spawnSync("sh", [path.join(path.dirname(SCRIPT), "entrypoint.sh"), "/etc/patroni/patroni.yml"], {
                encoding: "utf8",
                env: { PATH: `${dir}:${process.env.PATH}`, ROLE_PASSWORDS_FILE: file, ...secrets },
            });
            assert.equal(r.status, 0, r.stderr);
            assert.equal(fs.statSync(file).mode & 0o777, 0o600);
            assert.equal(
                fs.readFileSync(file, "utf8"),
                "superuser=suPw0\nreplication=replPw1\nrewind=rwPw2\napp=appPw3\nbarman=barmanPw4\nstreaming_barman=strPw5\nmonitor=monPw6\n",
            );
            assert.equal(fs.readFileSync(path.join(dir, "patroni.argv"), "utf8").trim(), "/etc/patroni/patroni.yml");
            const patroniEnv = fs.readFileSync(path.join(dir, "patroni.env"), "utf8");
            for (const [k, v] of Object.entries(secrets)) {
                // Patroni takes its own four out of its environment before it starts anything.
                assert.equal(patroniEnv.includes(v), k.startsWith("PATRONI_"), `${k} in Patroni's environment`);
            }
            const sshEnv = fs.readFileSync(path.join(dir, "ssh.env"), "utf8");
            for (const [k, v] of Object.entries(secrets)) {
                assert.equal(sshEnv.includes(v), k.startsWith("SSH_"), `${k} in sshd's environment`);
            }
            assert.match(patroniEnv, new RegExp(`^ROLE_PASSWORDS_FILE=${file}$`, "m"));
        });
    });
});

describe("barman-backup-gate (images/patroni/barman-backup-gate.sh): the forced command of Barman's backup key", () => {
    it("lets `true` and an rsync server in the sender role through (started without a shell), refuses anything else", () => {
        inScratch("gate-", dir => {
            // The gate runs /usr/bin/rsync; a copy of it runs a recorder there instead.
            const script = fs
                .readFileSync(path.join(path.dirname(SCRIPT), "barman-backup-gate.sh"), "utf8")
                .replace("/usr/bin/rsync", path.join(dir, "rsync"));
            fs.writeFileSync(path.join(dir, "gate"), script, { mode: 0o755 });
            fs.writeFileSync(path.join(dir, "rsync"), `#!/bin/sh\nprintf '%s|' "$@"\n`, { mode: 0o755 });
            const gate = (cmd?: string) =>
                spawnSync(path.join(dir, "gate"), [], {
                    encoding: "utf8",
                    env: { PATH: process.env.PATH, ...(cmd === undefined ? {} : { SSH_ORIGINAL_COMMAND: cmd }) },
                });
            assert.equal(gate("true").status, 0);
            // What Barman 3.4 sends (measured: leading spaces, --secluded-args), and a plain sender with paths.
            const barman = gate("  rsync --server --sender -sLtpre.iLsfxCIvu");
            assert.equal(barman.status, 0, barman.stderr);
            assert.equal(barman.stdout, "--server|--sender|-sLtpre.iLsfxCIvu|");
            assert.equal(
                gate("rsync --server --sender -vlogDtpre.iLsfxCIvu . /var/lib/postgresql/15/data/").stdout,
                "--server|--sender|-vlogDtpre.iLsfxCIvu|.|/var/lib/postgresql/15/data/|",
            );
            for (const refused of [
                undefined,
                "",
                "psql -c 'ALTER ROLE postgres PASSWORD NULL'",
                "cat /tmp/role-passwords",
                "rsync --server -sLtpre.iLsfxCIvu . /tmp/x",
                "rsync --server --sender",
                "rsync --server --sender -s; psql",
                "rsync --server --sender -s $(psql)",
                "true; psql",
                "sh -c true",
            ]) {
                const r = gate(refused);
                assert.equal(r.status, 1, `${refused}`);
                assert.match(r.stderr, /barman-backup-gate: refused/);
                assert.equal(r.stdout, "", `${refused}`);
            }
        });
    });
});

describe("archive-wal (images/patroni/archive-wal.sh): the hand-off to Barman through the shared volume", () => {
    // archive-wal calls walshare-dirs (images/common), installed on PATH in the image.
    const run = (share: string, src: string, name: string) =>
        inScratch("bin-", bin => {
            fs.symlinkSync(path.join(path.dirname(SCRIPT), "..", "common", "walshare-dirs.sh"), path.join(bin, "walshare-dirs"));
            return spawnSync("sh", [path.join(path.dirname(SCRIPT), "archive-wal.sh"), src, name], {
                encoding: "utf8",
                env: { PATH: `${bin}:${process.env.PATH}`, WAL_SHARE: share },
            });
        });

    it("hands a segment over atomically: 0640 in incoming/, nothing left in tmp/ (sticky), idempotent", () => {
        inScratch("walshare-", dir => {
            const src = path.join(dir, "000000010000000000000003");
            fs.writeFileSync(src, "segment-3", { mode: 0o600 });
            const share = path.join(dir, "share");
            fs.mkdirSync(share);
            assert.equal(run(share, src, "000000010000000000000003").status, 0);
            const dst = path.join(share, "incoming", "000000010000000000000003");
            assert.equal(fs.readFileSync(dst, "utf8"), "segment-3");
            assert.equal(fs.statSync(dst).mode & 0o777, 0o640);
            assert.deepEqual(fs.readdirSync(path.join(share, "tmp")), []);
            assert.equal(fs.statSync(path.join(share, "tmp")).mode & 0o7777, 0o3775, "tmp/ setgid and sticky");
            assert.equal(fs.statSync(path.join(share, "incoming")).mode & 0o7777, 0o2775);
            assert.equal(run(share, src, "000000010000000000000003").status, 0, "the same file again: archived");
            fs.writeFileSync(src, "other");
            const different = run(share, src, "000000010000000000000003");
            assert.equal(different.status, 1);
            assert.match(different.stderr, /different content/);
        });
    });

    it("never writes through anything planted in the share: symlinks in tmp/ or incoming/, a directory in incoming/", () => {
        inScratch("walshare-", dir => {
            const share = path.join(dir, "share");
            fs.mkdirSync(path.join(share, "tmp"), { recursive: true });
            fs.mkdirSync(path.join(share, "incoming"));
            const victim = path.join(dir, "victim");
            fs.writeFileSync(victim, "keep me");
            const src = path.join(dir, "seg");
            fs.writeFileSync(src, "segment");
            // The names the former script used (segment.host.pid) and a spread of others: mktemp's are random.
            for (const n of ["000000010000000000000004.db1.1", "000000010000000000000004.XXXXXXXXXX", "000000010000000000000004"]) {
                fs.symlinkSync(victim, path.join(share, "tmp", n));
            }
            assert.equal(run(share, src, "000000010000000000000004").status, 0);
            assert.equal(fs.readFileSync(victim, "utf8"), "keep me");
            assert.equal(fs.lstatSync(path.join(share, "incoming", "000000010000000000000004")).isFile(), true);

            fs.symlinkSync(victim, path.join(share, "incoming", "000000010000000000000005"));
            const viaLink = run(share, src, "000000010000000000000005");
            assert.equal(viaLink.status, 1);
            assert.match(viaLink.stderr, /not a regular file/);
            fs.mkdirSync(path.join(share, "incoming", "000000010000000000000006"));
            assert.equal(run(share, src, "000000010000000000000006").status, 1);
            assert.equal(fs.readFileSync(victim, "utf8"), "keep me");
            assert.deepEqual(fs.readdirSync(path.join(share, "incoming", "000000010000000000000006")), []);
            // No temporary file is left behind by the refusals.
            assert.deepEqual(
                fs.readdirSync(path.join(share, "tmp")).filter(n => !fs.lstatSync(path.join(share, "tmp", n)).isSymbolicLink()),
                [],
            );
        });
    });
});
