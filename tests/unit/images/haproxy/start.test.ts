// haproxy-start (images/haproxy/start.sh), run on the host with a fake `haproxy` on PATH: the stats page's
// certificate and key joined into HAProxy's one `crt` file, readable by its owner only, then (once the stack
// has written its configuration into the container) HAProxy.
import { strict as assert } from "assert";
import { spawn, spawnSync } from "child_process";
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
            const cfg = path.join(dir, "haproxy.cfg");
            const env = { PATH: `${bin}:/usr/bin:/bin`, TLS_ETC: etc, TLS_RUN: runDir, HAPROXY_PID: path.join(runDir, "pid") };
            fs.writeFileSync(cfg, "global\n");
            const r = spawnSync("sh", [SCRIPT, cfg], { encoding: "utf8", env });
            assert.equal(r.status, 0, r.stderr);
            const pem = path.join(runDir, "stats.pem");
            assert.equal(fs.readFileSync(pem, "utf8"), "CERT\nKEY\n");
            assert.equal(fs.statSync(pem).mode & 0o777, 0o600);
            assert.equal(fs.readFileSync(path.join(dir, "argv"), "utf8"), `-W\n-db\n-p\n${env.HAPROXY_PID}\n-f\n${cfg}\n`);
            // Without the key (tls-key did not run) it stops before HAProxy starts.
            fs.rmSync(path.join(runDir, "key.pem"));
            fs.rmSync(path.join(dir, "argv"));
            const noKey = spawnSync("sh", [SCRIPT, cfg], { encoding: "utf8", env });
            assert.notEqual(noKey.status, 0);
            assert.equal(fs.existsSync(path.join(dir, "argv")), false, "haproxy started without its key");
        } finally {
            fs.rmSync(dir, { recursive: true });
        }
    });

    it("waits for the configuration the stack writes into the new container, then starts HAProxy with it", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-start-"));
        try {
            fs.writeFileSync(path.join(dir, "cert.pem"), "CERT\n");
            fs.writeFileSync(path.join(dir, "key.pem"), "KEY\n", { mode: 0o600 });
            fs.writeFileSync(path.join(dir, "haproxy"), `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/argv\n`, { mode: 0o755 });
            const cfg = path.join(dir, "haproxy.cfg");
            const child = spawn("sh", [SCRIPT, cfg], {
                env: { PATH: `${dir}:/usr/bin:/bin`, TLS_ETC: dir, TLS_RUN: dir, HAPROXY_PID: path.join(dir, "pid") },
            });
            let stderr = "";
            child.stderr.on("data", d => (stderr += d));
            const exited = new Promise<number | null>(resolve => child.on("exit", resolve));
            await new Promise(resolve => setTimeout(resolve, 1000));
            assert.equal(fs.existsSync(path.join(dir, "argv")), false, "started without a configuration");
            assert.match(stderr, /waiting for .*haproxy\.cfg/);
            fs.writeFileSync(cfg, "global\n");
            assert.equal(await exited, 0, stderr);
            assert.match(fs.readFileSync(path.join(dir, "argv"), "utf8"), new RegExp(`-f\n${cfg}\n$`));
        } finally {
            fs.rmSync(dir, { recursive: true });
        }
    });
});
