// images/patroni/post-bootstrap.sh with a fake `psql` on PATH: the passwords reach psql on stdin, never
// in its argv (which `ps` and /proc show to every process in the container).
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SCRIPT = path.join(__dirname, "..", "..", "..", "images", "patroni", "post-bootstrap.sh");

describe("patroni-post-bootstrap (images/patroni/post-bootstrap.sh)", () => {
    it("creates the roles with the environment's passwords, passed on stdin and not on psql's command line", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fakepsql-"));
        try {
            fs.writeFileSync(path.join(dir, "psql"), `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/argv\ncat > ${dir}/stdin\n`, { mode: 0o755 });
            const passwords = {
                APP_PASSWORD: "appPw1",
                BARMAN_PASSWORD: "barmanPw2",
                STREAMING_BARMAN_PASSWORD: "strPw3",
                MONITOR_PASSWORD: "monPw4",
            };
            const r = spawnSync("sh", [SCRIPT, "postgres://postgres@localhost/postgres"], {
                encoding: "utf8",
                env: { PATH: `${dir}:${process.env.PATH}`, APP_USER: "shop", APP_DATABASE: "shopdb", ...passwords },
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
        } finally {
            fs.rmSync(dir, { recursive: true });
        }
    });
});

describe("patroni-sync-passwords (images/patroni/sync-passwords.sh)", () => {
    it("creates a missing application role and database (an `app` change), then sets every password, all on stdin", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fakepsql-"));
        try {
            fs.writeFileSync(path.join(dir, "psql"), `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/argv\ncat > ${dir}/stdin\n`, { mode: 0o755 });
            fs.writeFileSync(path.join(dir, "roles"), "superuser=suPw0\nreplication=replPw1\nrewind=rwPw2\n", { mode: 0o600 });
            const passwords = {
                APP_PASSWORD: "appPw1",
                BARMAN_PASSWORD: "barmanPw2",
                STREAMING_BARMAN_PASSWORD: "strPw3",
                MONITOR_PASSWORD: "monPw4",
            };
            const r = spawnSync("sh", [path.join(path.dirname(SCRIPT), "sync-passwords.sh")], {
                encoding: "utf8",
                env: {
                    PATH: `${dir}:${process.env.PATH}`,
                    PG_PORT: "5431",
                    ROLE_PASSWORDS_FILE: path.join(dir, "roles"),
                    APP_USER: "shop",
                    APP_DATABASE: "shopdb",
                    ...passwords,
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
        } finally {
            fs.rmSync(dir, { recursive: true });
        }
    });
});
