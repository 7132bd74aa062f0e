// haproxy-apply-config (images/haproxy/apply-config.sh), run on the host with a fake `haproxy` (its -c fails on a
// config holding BROKEN), a fake `socat` (the admin socket: `show info` names the worker, `show servers state`
// dumps the state) and a stand-in master process that starts a "new worker" on SIGUSR2.
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SCRIPT = path.join(__dirname, "..", "..", "..", "..", "images", "haproxy", "apply-config.sh");

describe("haproxy-apply-config (images/haproxy/apply-config.sh)", () => {
    let dir: string;
    let master: ChildProcess | undefined;
    const file = (name: string) => path.join(dir, name);
    const read = (name: string) => fs.readFileSync(file(name), "utf8");
    const apply = (content: string) =>
        spawnSync("sh", [SCRIPT], {
            input: content,
            encoding: "utf8",
            env: {
                PATH: `${dir}:/usr/bin:/bin`,
                HAPROXY_CONFIG: file("haproxy.cfg"),
                HAPROXY_SERVER_STATE: file("state"),
                HAPROXY_PID: file("pid"),
                HAPROXY_ADMIN_SOCKET: file("admin.sock"),
            },
        });

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-apply-"));
        fs.writeFileSync(file("haproxy"), `#!/bin/sh\n[ "$1" = -c ] && ! grep -q BROKEN "$4"\n`, { mode: 0o755 });
        fs.writeFileSync(
            file("socat"),
            `#!/bin/sh\nread -r cmd\necho "$cmd" >> ${dir}/socat.log\ncase $cmd in\n` +
                `  "show info") echo "Name: HAProxy"; echo "Pid: $(cat ${dir}/worker)" ;;\n` +
                `  "show servers state") echo "1"; echo "# be_id be_name srv_id srv_name srv_op_state"; echo "3 primary 1 db1 2" ;;\n` +
                "esac\n",
            { mode: 0o755 },
        );
        fs.writeFileSync(file("worker"), "100\n");
    });
    afterEach(() => {
        master?.kill("SIGKILL");
        master = undefined;
        fs.rmSync(dir, { recursive: true });
    });

    /** A running "master": its pid in the pid file; SIGUSR2 starts a new worker (a new pid in `show info`). */
    async function startMaster(): Promise<void> {
        master = spawn("sh", ["-c", `trap 'echo 101 > ${dir}/worker; echo reload >> ${dir}/signals' USR2; while :; do sleep 0.05; done`]);
        fs.writeFileSync(file("pid"), `${master.pid}\n`);
        await new Promise(resolve => setTimeout(resolve, 200));
    }

    it("first write (HAProxy not running yet): the checked file is put in place, nothing is reloaded", () => {
        const r = apply("global # first\n");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(read("haproxy.cfg"), "global # first\n");
        assert.equal(fs.existsSync(file("socat.log")), false, "no admin socket call without a running HAProxy");
    });

    it("a broken configuration changes nothing and fails", async () => {
        apply("global # good\n");
        await startMaster();
        const r = apply("global # BROKEN\n");
        assert.notEqual(r.status, 0);
        assert.equal(read("haproxy.cfg"), "global # good\n");
        assert.equal(fs.existsSync(file("signals")), false, "no reload");
        assert.deepEqual(
            fs.readdirSync(dir).filter(f => f.includes(".new")),
            [],
            "no temporary file left",
        );
    });

    it("a change while HAProxy runs: servers' state saved, the master signalled, done once the new worker answers", async () => {
        apply("global # old\n");
        await startMaster();
        const r = apply("global # new\n");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(read("haproxy.cfg"), "global # new\n");
        assert.match(read("state"), /^3 primary 1 db1 2$/m, "every server's state for the new worker");
        assert.equal(read("signals"), "reload\n");
        assert.match(r.stdout, /reloaded \(worker 100 -> 101\)/);
        // The same content again: nothing to do.
        const same = apply("global # new\n");
        assert.equal(same.status, 0, same.stderr);
        assert.equal(read("signals"), "reload\n", "no second reload");
    });

    it("fails when HAProxy does not come back with a new worker", async () => {
        apply("global # old\n");
        master = spawn("sh", ["-c", "trap '' USR2; while :; do sleep 0.05; done"]);
        fs.writeFileSync(file("pid"), `${master.pid}\n`);
        await new Promise(resolve => setTimeout(resolve, 200));
        const r = apply("global # new\n");
        assert.equal(r.status, 1);
        assert.match(r.stderr, /did not reload/);
    });
});
