// images/common/secret-env.sh: a node's secrets reach its processes from the uploaded file, taken literally.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SCRIPT = path.join(__dirname, "..", "..", "..", "..", "images", "common", "secret-env.sh");

/** Run secret-env with `lines` as the secret file, printing the named variables; status, stdout, stderr. */
function run(lines: string | undefined, names: string[]): { status: number | null; stdout: string; stderr: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "secret-env-"));
    try {
        const file = path.join(dir, "env");
        if (lines !== undefined) {
            fs.writeFileSync(file, lines, { mode: 0o600 });
        }
        const print = names.map(n => `printf '%s|' "$${n}"`).join("; ");
        const r = spawnSync("sh", [SCRIPT, "sh", "-c", print], { env: { PATH: process.env.PATH, SECRET_ENV: file }, encoding: "utf8" });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    } finally {
        fs.rmSync(dir, { recursive: true });
    }
}

describe("secret-env (images/common/secret-env.sh)", () => {
    it("exports every NAME=value line literally: no expansion, '=' and spaces kept, the last line without a newline too", () => {
        const tricky = "a$(touch /tmp/pwned)`id` $HOME=x 'q\" \\";
        const r = run(`PW=${tricky}\nEMPTY=\nLAST=end`, ["PW", "EMPTY", "LAST"]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, `${tricky}||end|`);
    });

    it("refuses a line that is not NAME=value, and a missing file, before running the command", () => {
        for (const bad of ["no-equals-sign\n", "1X=y\n", "A-B=y\n", "=y\n"]) {
            const r = run(bad, []);
            assert.equal(r.status, 1, bad);
            assert.match(r.stderr, /not NAME=value/, bad);
        }
        const missing = run(undefined, []);
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, /cannot read/);
    });
});
