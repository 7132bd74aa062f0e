// scripts/pulumi-local.sh (npm run up / destroy / outputs) with fake `pulumi` and `docker` on PATH:
// the real CLI cannot be installed here, so this checks what the script asks of it.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.join(__dirname, "..", "..", "..");

describe("npm run up / destroy / outputs (scripts/pulumi-local.sh)", () => {
    let dir: string, work: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fakebin-"));
        work = fs.mkdtempSync(path.join(os.tmpdir(), "project-"));
        fs.mkdirSync(path.join(work, "scripts"));
        fs.copyFileSync(path.join(ROOT, "scripts", "pulumi-local.sh"), path.join(work, "scripts", "pulumi-local.sh"));
        const log = path.join(dir, "calls");
        fs.writeFileSync(
            path.join(dir, "pulumi"),
            `#!/bin/sh\necho "pulumi $* | backend=$PULUMI_BACKEND_URL passfile=$PULUMI_CONFIG_PASSPHRASE_FILE" >> ${log}\n[ "$1" = stack ] && [ "$2" = output ] && echo '{"writeEndpoint":"127.0.0.1:5551"}'\nexit 0\n`,
            { mode: 0o755 },
        );
        fs.writeFileSync(path.join(dir, "docker"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    });
    afterEach(() => {
        fs.rmSync(dir, { recursive: true });
        fs.rmSync(work, { recursive: true });
    });
    const run = (action: string, env: Record<string, string> = {}, extra: string[] = []) => {
        const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PULUMI_")));
        return spawnSync("bash", [path.join(work, "scripts", "pulumi-local.sh"), action, ...extra], {
            encoding: "utf8",
            // A scratch HOME: the generated passphrase goes under ~/.config, never the real one.
            env: { ...clean, HOME: dir, XDG_CONFIG_HOME: "", PATH: `${dir}:${process.env.PATH}`, ...env },
        });
    };
    const calls = () => fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n");

    it("up: local backend in ./.pulumi, a generated 0600 passphrase outside the project, the dev stack selected or created", () => {
        const r = run("up");
        assert.equal(r.status, 0, r.stderr);
        const backend = `file://${work}/.pulumi`;
        const id = fs.readFileSync(path.join(work, ".pulumi", "project-id"), "utf8");
        assert.match(id, /^[0-9a-f]{24}$/);
        const passfile = `${dir}/.config/patroni-ha/${id}.passphrase`;
        assert.deepEqual(calls(), [
            `pulumi stack select --create dev | backend=${backend} passfile=${passfile}`,
            `pulumi up --yes --stack dev | backend=${backend} passfile=${passfile}`,
            `pulumi stack output --stack dev | backend=${backend} passfile=${passfile}`,
        ]);
        assert.equal(fs.statSync(passfile).mode & 0o777, 0o600);
        assert.ok(fs.readFileSync(passfile, "utf8").trim().length >= 40);
        assert.match(r.stderr, /Generated a state passphrase in .*\/\.config\/patroni-ha\/[0-9a-f]{24}\.passphrase \(outside the project/);
        assert.ok(!fs.existsSync(path.join(work, ".pulumi", "passphrase")), "nothing secret in the project");
        // The same key on the next run; a passphrase an earlier version left in .pulumi/ is still used, with a note.
        assert.equal(run("preview").status, 0);
        assert.match(calls().at(-1)!, new RegExp(`passfile=${passfile}$`));
        fs.writeFileSync(path.join(work, ".pulumi", "passphrase"), "old\n", { mode: 0o600 });
        const old = run("preview");
        assert.match(calls().at(-1)!, new RegExp(`passfile=${work}/\\.pulumi/passphrase$`));
        assert.match(old.stderr, /next to the state it encrypts; move it out of the project/);
    });

    it("respects STACK and a passphrase the user set; outputs prints only JSON and never creates a stack", () => {
        const r = run("outputs", { STACK: "prod", PULUMI_CONFIG_PASSPHRASE: "mine" });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), { writeEndpoint: "127.0.0.1:5551" });
        assert.ok(!fs.existsSync(path.join(work, ".pulumi", "passphrase")));
        assert.match(calls()[0], /^pulumi stack select prod \|/);
        assert.match(calls()[1], /^pulumi stack output --json --show-secrets --stack prod \|/);
    });

    it("rotate-password replaces one generated password by its URN (the rollout sets it on the leader first); refuses an unknown name", () => {
        assert.equal(run("up").status, 0);
        const r = run("rotate-password", {}, ["replication"]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(
            calls().at(-1)!,
            /^pulumi up --yes --stack dev --replace urn:pulumi:dev::patroni-ha::patroni-ha:index:PatroniCluster\$random:index\/randomPassword:RandomPassword::cluster-replication-password \|/,
        );
        const bad = run("rotate-password", {}, ["replicator"]);
        assert.equal(bad.status, 2);
        assert.match(bad.stderr, /NAME one of: superuser replication rewind app barman streaming-barman monitor patroni-api stats/);
        assert.equal(run("up", {}, ["--target-dependents"]).status, 0);
        assert.match(calls().at(-2)!, /^pulumi up --yes --target-dependents --stack dev \|/);
    });

    it("destroy asks (no --yes) unless the user passes --yes; preview passes its arguments on", () => {
        assert.equal(run("up").status, 0);
        assert.equal(run("destroy").status, 0);
        assert.match(calls().at(-1)!, /^pulumi destroy --stack dev \|/);
        assert.equal(run("destroy", {}, ["--yes"]).status, 0);
        assert.match(calls().at(-1)!, /^pulumi destroy --yes --stack dev \|/);
        assert.equal(run("preview", {}, ["--diff"]).status, 0);
        assert.match(calls().at(-1)!, /^pulumi preview --diff --stack dev \|/);
    });

    it('output NAME prints one output with its secret shown (for psql "$(npm run --silent output -- writeConnectionString)")', () => {
        assert.equal(run("output", {}, ["writeConnectionString"]).status, 0);
        assert.match(calls().at(-1)!, /^pulumi stack output writeConnectionString --show-secrets --stack dev \|/);
        const missing = run("output");
        assert.notEqual(missing.status, 0);
        assert.match(missing.stderr, /usage: npm run --silent output -- NAME/);
    });

    it("outputs FILE writes the outputs into a file only its owner can read", () => {
        const file = path.join(work, "outputs.json");
        fs.writeFileSync(file, "old", { mode: 0o644 });
        const r = run("outputs", {}, [file]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);
        assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), { writeEndpoint: "127.0.0.1:5551" });
        assert.equal(r.stdout, "");
    });
});
