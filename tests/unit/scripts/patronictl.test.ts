// scripts/patronictl.sh (npm run patronictl) with a fake `docker` on PATH: which node it runs in, with what.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SCRIPT = path.join(__dirname, "..", "..", "..", "scripts", "patronictl.sh");

describe("npm run patronictl (scripts/patronictl.sh)", () => {
    let dir: string;
    const run = (args: string[], env: Record<string, string>, running: string) => {
        fs.writeFileSync(
            path.join(dir, "docker"),
            `#!/bin/sh\nif [ "$1" = ps ]; then echo "$*" >> ${dir}/ps; printf '${running}'; exit 0; fi\necho "$*" >> ${dir}/exec\n`,
            { mode: 0o755 },
        );
        return spawnSync("bash", [SCRIPT, ...args], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, ...env },
            input: "",
        });
    };
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fakedocker-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true }));

    it("runs patronictl with the given arguments in the first running node of STACK (default dev)", () => {
        const r = run(["list", "--format", "json"], { STACK: "prod" }, "prod-db2\\nprod-db1\\n");
        assert.equal(r.status, 0, r.stderr);
        assert.match(
            fs.readFileSync(path.join(dir, "ps"), "utf8"),
            /label=patroni-ha.stack=prod .*label=patroni-ha.role=patroni .*status=running/,
        );
        assert.equal(fs.readFileSync(path.join(dir, "exec"), "utf8").trim(), "exec -i prod-db1 patronictl list --format json");
        const dflt = run(["list"], {}, "dev-db1\\n");
        assert.equal(dflt.status, 0, dflt.stderr);
    });

    it("says which stack has no running node, and fails", () => {
        const r = run(["list"], { STACK: "gone" }, "");
        assert.equal(r.status, 1);
        assert.match(r.stderr, /no running Patroni node of stack "gone"/);
    });
});
