// haproxy-start (images/haproxy/start.sh), run on the host with a fake `haproxy` on PATH: the stats page's
// certificate and key joined into HAProxy's one `crt` file, readable by its owner only, then HAProxy.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SCRIPT = path.join(__dirname, "..", "..", "..", "..", "images", "haproxy", "start.sh");

describe("haproxy-start (images/haproxy/start.sh)", () => {
    it("writes certificate then key to TLS_RUN/stats.pem, 0600, and execs haproxy with the config", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-start-"));
        try {
            const etc = path.join(dir, "etc"),
                runDir = path.join(dir, "run"),
                bin = path.join(dir, "bin");
            for (const d of [etc, runDir, bin]) {
                fs.mkdirSync(d);
            }
            fs.writeFileSync(path.join(etc, "cert.pem"), "CERT\n");
            fs.writeFileSync(path.join(runDir, "key.pem"), "KEY\n", { mode: 0o600 });
            fs.writeFileSync(path.join(bin, "haproxy"), `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/argv\n`, { mode: 0o755 });
            const r = spawnSync("sh", [SCRIPT, "/etc/haproxy/haproxy.cfg"], {
                encoding: "utf8",
                env: { PATH: `${bin}:/usr/bin:/bin`, TLS_ETC: etc, TLS_RUN: runDir },
            });
            assert.equal(r.status, 0, r.stderr);
            const pem = path.join(runDir, "stats.pem");
            assert.equal(fs.readFileSync(pem, "utf8"), "CERT\nKEY\n");
            assert.equal(fs.statSync(pem).mode & 0o777, 0o600);
            assert.equal(fs.readFileSync(path.join(dir, "argv"), "utf8"), "-W\n-db\n-f\n/etc/haproxy/haproxy.cfg\n");
            // Without the key (tls-key did not run) it stops before HAProxy starts.
            fs.rmSync(path.join(runDir, "key.pem"));
            fs.rmSync(path.join(dir, "argv"));
            const noKey = spawnSync("sh", [SCRIPT, "/etc/haproxy/haproxy.cfg"], {
                encoding: "utf8",
                env: { PATH: `${bin}:/usr/bin:/bin`, TLS_ETC: etc, TLS_RUN: runDir },
            });
            assert.notEqual(noKey.status, 0);
            assert.equal(fs.existsSync(path.join(dir, "argv")), false, "haproxy started without its key");
        } finally {
            fs.rmSync(dir, { recursive: true });
        }
    });
});
