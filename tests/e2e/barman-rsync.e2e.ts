// barman.mode "rsync" (the seed's SSH design) on the real engine: per-stack keys, rsync backups through
// HAProxy's SSH route to whoever leads, archive_command pushing over SSH into a write-only folder.
import { strict as assert } from "assert";
import { memberStatus } from "../../lib/patroniApi";
import { memberApiUrl } from "../../ops/outputs";
import { archiveGaps, archivedWalNames, check, dockerExec, listBackups, switchWalAndWait, takeBackup } from "../../ops/barman";
import { pitr, removePitr } from "../../ops/pitr";
import { BARMAN_SERVER } from "../../configs/barman";
import { parseConfig } from "../../config";
import { BARMAN_BACKUPS, BARMAN_GID, BARMAN_UID, PG_DATA, SSH_ETC } from "../../configs/layout";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { docker, run } from "../support/docker";
import { Deployed, deployStack, destroyStack, query } from "../support/stack";
import { waitBarmanCheck, waitFor } from "../support/workload";
import { leader, log, stackFile, tearDown, waitNewLeader, waitRejoined } from "../support/helpers";
import { E2E_STACKS } from "../support/e2eStacks";

const STACK = E2E_STACKS.rsync.stack;
/** barman.backupDir: this stack keeps its backups on a host directory instead of a volume. */
const BACKUP_DIR = path.join(os.tmpdir(), `${STACK}-backups`);
const CONFIG = {
    profile: "fast",
    patroniNodes: 2,
    etcdNodes: 1,
    subnet: E2E_STACKS.rsync.subnet,
    serviceSubnet: E2E_STACKS.rsync.serviceSubnet,
    barman: { mode: "rsync", backupDir: BACKUP_DIR },
    ports: E2E_STACKS.rsync.ports,
};
const { barman: BARMAN_ADDRESS, haproxy: HAPROXY_ADDRESS } = parseConfig(CONFIG, STACK).spec.addresses;

/** backup.info's mode= line: how Barman took the backup. */
async function backupMode(container: string, id: string): Promise<string> {
    const r = await dockerExec(container, ["sh", "-c", `grep '^mode=' ${BARMAN_BACKUPS}/${BARMAN_SERVER}/base/${id}/backup.info`]);
    return r.stdout.trim().replace("mode=", "");
}

describe("e2e: barman.mode rsync (SSH with per-stack keys)", function () {
    this.timeout(E2E_STACKS.rsync.timeoutMs);
    let d: Deployed;
    let barman: string;
    before(async () => {
        // As README says to prepare it: owned by the image's barman user, mode 0700.
        fs.rmSync(BACKUP_DIR, { recursive: true, force: true });
        fs.mkdirSync(BACKUP_DIR, { mode: 0o700 });
        fs.chownSync(BACKUP_DIR, BARMAN_UID, BARMAN_GID);
        d = await deployStack(stackFile(STACK, CONFIG), { log });
        barman = d.outputs.barmanContainer;
    });
    after(() => tearDown(STACK, d));

    it("the first base backup is an rsync backup over SSH, taken by itself; barman check passes (ssh included)", async () => {
        const seconds = await waitFor("the first base backup", 300, async () => (await listBackups(barman)).some(b => b.status === "DONE"));
        console.log(`      first rsync backup present ${seconds.toFixed(1)} s after the cluster was healthy`);
        const [first] = await listBackups(barman);
        assert.equal(await backupMode(barman, first.id), "rsync-concurrent");
        // barman.backupDir: the backup is on the host directory.
        const info = fs.readFileSync(path.join(BACKUP_DIR, BARMAN_SERVER, "base", first.id, "backup.info"), "utf8");
        assert.match(info, /^status=DONE$/m);
        await waitBarmanCheck(barman, 180);
        assert.match((await check(barman)).text, /ssh: OK/);
    });

    it("after switch-wal the segment arrives through archive_command's rsync push", async () => {
        const { segment, seconds } = await switchWalAndWait(barman);
        console.log(`      switch-wal (rsync): ${segment} archived in ${seconds.toFixed(1)} s`);
    });

    it("keys: none in the images; the archive key can only rsync into incoming/, the backup key only run Barman's check and rsync reads; keys from outside the stack are refused", async () => {
        for (const role of ["patroni", "barman"]) {
            const r = await docker([
                "run",
                "--rm",
                "-u",
                "root",
                "--entrypoint",
                "sh",
                `patroni-ha-${role}:${STACK}`,
                "-c",
                "find /run/ssh-ha /etc/ssh-ha -type f | wc -l; ls /etc/ssh | grep -c ssh_host_ || true; grep -rl 'PRIVATE KEY' /etc /usr/local /var/lib 2>/dev/null | wc -l",
            ]);
            assert.deepEqual(
                r
                    .split("\n")
                    .map(x => x.trim())
                    .filter(Boolean),
                ["0", "0", "0"],
                `${role} image: ${r}`,
            );
        }
        const l = await leader(d.outputs);
        const db = `${STACK}-${l.name}`;
        const shell = await dockerExec(db, ["ssh", "-F", `${SSH_ETC}/ssh_config`, "barman", "cat /etc/passwd"]);
        assert.notEqual(shell.code, 0);
        assert.match(shell.stderr, /rrsync error/);
        assert.doesNotMatch(shell.stdout, /root:/);
        const stranger = await dockerExec(db, [
            "sh",
            "-c",
            `rm -f /tmp/k /tmp/k.pub; ssh-keygen -q -t ed25519 -N '' -f /tmp/k && ssh -F /dev/null -i /tmp/k -o IdentitiesOnly=yes ` +
                `-o UserKnownHostsFile=/etc/ssh-ha/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -p 2222 barman@${BARMAN_ADDRESS} true`,
        ]);
        assert.equal(stranger.code, 255, stranger.stderr);
        assert.match(stranger.stderr, /Permission denied \(publickey\)/);
        const password = await dockerExec(barman, [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "UserKnownHostsFile=/etc/ssh-ha/known_hosts",
            "-o",
            "BatchMode=yes",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
            "-p",
            "2222",
            `postgres@${HAPROXY_ADDRESS}`,
            "true",
        ]);
        assert.equal(password.code, 255);
        assert.match(password.stderr, /Permission denied \(publickey\)/);
        // Barman's backup key reaches the leader (through HAProxy) for `barman check` and rsync backups only:
        // no psql, no shell, no write (the backups before and after this test use it).
        for (const command of ["psql -XAtc 'SELECT 1'", "cat /tmp/role-passwords", "rsync --server . /tmp/x"]) {
            const r = await dockerExec(barman, ["ssh", "-F", `${SSH_ETC}/ssh_config`, "leader", command]);
            assert.equal(r.code, 1, `${command}: ${r.stdout}${r.stderr}`);
            assert.match(r.stderr, /barman-backup-gate: refused/);
            assert.equal(r.stdout, "", command);
        }
        assert.equal((await dockerExec(barman, ["ssh", "-F", `${SSH_ETC}/ssh_config`, "leader", "true"])).code, 0, "Barman's SSH check");
        const logs = await run("docker", ["logs", db], { timeoutMs: 30000 });
        assert.match(
            `${logs.stdout}${logs.stderr}`,
            /barman-backup-gate: refused: psql -XAtc 'SELECT 1'/,
            "the refusal is in the leader's log",
        );
    });

    for (const round of [1, 2]) {
        it(`kill the leader (failover ${round} of 2): the new leader archives, the next rsync backup reaches it through HAProxy, no gap, check passes`, async () => {
            const old = await leader(d.outputs);
            await docker(["kill", `${STACK}-${old.name}`]);
            const elected = await waitNewLeader(d.outputs, old.name, 120);
            const t0 = Date.now();
            const timeline = Number((await memberStatus(memberApiUrl(d.outputs, elected.name)!)).timeline);
            await waitFor("a segment of the new timeline archived", 300, async () => {
                const { segment } = await switchWalAndWait(barman, 60);
                return parseInt(segment.slice(0, 8), 16) === timeline;
            });
            console.log(
                `      failover ${round}: ${elected.name} leads on timeline ${timeline}; rsync archiving resumed ${((Date.now() - t0) / 1000).toFixed(1)} s after it was up`,
            );
            assert.deepEqual((await archiveGaps(barman)).sinceOldestBackup, []);
            const started = Date.now();
            const id = await takeBackup(barman);
            const info = (await listBackups(barman)).find(b => b.id === id)!;
            console.log(`      rsync backup ${id} on timeline ${info.timeline} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
            assert.equal(info.timeline, timeline, "the backup was taken from the new leader");
            await waitBarmanCheck(barman, 240);
            await docker(["start", `${STACK}-${old.name}`]);
            await waitRejoined(d.outputs, old.name, 180);
        });
    }

    it("PITR from an rsync backup of timeline 1 to a moment ago after two failovers (SELECT now() as printed, no manual WAL switch)", async () => {
        const su = d.outputs.superuserConnectionString;
        await query(su, "CREATE TABLE pitr_rsync (id int PRIMARY KEY)");
        await query(su, "INSERT INTO pitr_rsync SELECT generate_series(1, 5)");
        await new Promise(r => setTimeout(r, 2000));
        // The target as an operator notes it: what `SELECT now()` prints; npm run pitr must get the WAL covering it archived itself.
        const [{ t }] = await query<{ t: string }>(su, "SELECT now()::text AS t");
        assert.match(t, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00$/);
        await new Promise(r => setTimeout(r, 2000));
        await query(su, "INSERT INTO pitr_rsync SELECT generate_series(6, 10)");
        const first = (await listBackups(barman)).filter(b => b.status === "DONE").sort((a, b) => a.id.localeCompare(b.id))[0];
        assert.equal(first.timeline, 1);
        const result = await pitr(d.outputs, { time: t }, { backupId: first.id, log });
        console.log(
            `      PITR (rsync backup on timeline 1 -> timeline ${result.timeline}) restored and started in ${result.seconds.toFixed(1)} s`,
        );
        const rows = await query<{ id: number }>(result.connectionString, "SELECT id FROM pitr_rsync ORDER BY id");
        assert.deepEqual(
            rows.map(r => r.id),
            [1, 2, 3, 4, 5],
        );
        await removePitr(d.outputs);
    });

    it("the cost the deploy warning names: with Barman down archive_command fails and WAL waits in the leader's pg_wal; it is archived once Barman is back, no gap", async () => {
        const su = d.outputs.superuserConnectionString;
        const failedBefore = Number((await query<{ n: string }>(su, "SELECT failed_count AS n FROM pg_stat_archiver"))[0].n);
        await docker(["stop", barman]);
        const switched: string[] = [];
        for (let i = 0; i < 3; i++) {
            await query(su, "SELECT pg_logical_emit_message(false, 'patroni-ha', 'barman-down')");
            switched.push((await query<{ s: string }>(su, "SELECT pg_walfile_name(pg_switch_wal()) AS s"))[0].s);
            await new Promise(r => setTimeout(r, 5000));
        }
        // archive_command cannot reach Barman: the segments stay .ready in the leader's pg_wal.
        await new Promise(r => setTimeout(r, 30000));
        const failed = Number((await query<{ n: string }>(su, "SELECT failed_count AS n FROM pg_stat_archiver"))[0].n) - failedBefore;
        const l = await leader(d.outputs);
        const ready = (await docker(["exec", `${STACK}-${l.name}`, "ls", `${PG_DATA}/pg_wal/archive_status`])).split("\n");
        assert.ok(
            switched.every(s => ready.includes(`${s}.ready`)),
            `waiting in pg_wal: ${ready}`,
        );
        await docker(["start", barman]);
        const seconds = await waitFor("the backlog archived", 300, async () => {
            const names = await archivedWalNames(barman);
            return switched.every(s => names.has(s));
        });
        console.log(
            `      rsync mode: ${switched.length} segments held in pg_wal while Barman was down (${failed} failed archive_command runs); archived ${seconds.toFixed(1)} s after Barman started`,
        );
        assert.deepEqual((await archiveGaps(barman)).sinceOldestBackup, []);
        await waitBarmanCheck(barman, 240);
    });

    it("Barman's two passwords rotated (`npm run rotate-password`, here --replace): set on the leader first, the nodes roll, Barman checks and backs up with the new ones", async () => {
        const rotated = await deployStack(stackFile(STACK, CONFIG), {
            log,
            update: true,
            replace: ["cluster-barman-password", "cluster-streaming-barman-password"],
        });
        assert.ok(
            rotated.engine.actions.some(a => a.name === "cluster-barman-container" && a.action === "replace"),
            "Barman runs with the new passwords",
        );
        await waitBarmanCheck(barman, 240);
        const before = (await listBackups(barman)).length;
        await takeBackup(barman);
        assert.equal((await listBackups(barman)).length, before + 1);
        d = rotated;
    });

    it("teardown leaves nothing of the stack but the backups in barman.backupDir", async () => {
        await destroyStack(STACK);
        assert.equal(await docker(["ps", "-aq", "--filter", `label=patroni-ha.stack=${STACK}`]), "");
        assert.equal(await docker(["volume", "ls", "-q", "--filter", `label=patroni-ha.stack=${STACK}`]), "");
        // The host backupDir is the operator's: destroy leaves it, backups included.
        assert.ok(fs.readdirSync(path.join(BACKUP_DIR, BARMAN_SERVER, "base")).length >= 1, "backups kept in backupDir");
        fs.rmSync(BACKUP_DIR, { recursive: true, force: true });
    });
});
