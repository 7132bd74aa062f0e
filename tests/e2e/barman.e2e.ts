// Barman on the real engine: archiving and backups that keep working across failovers.
import { strict as assert } from "assert";
import { memberStatus } from "../../lib/patroniApi";
import { memberApiUrl } from "../../ops/outputs";
import { spawnSync } from "child_process";
import * as fs from "fs";
import { Client } from "pg";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { archiveGaps, archivedWalNames, dockerExec, listBackups, switchWalAndWait, takeBackup } from "../../ops/barman";
import { pitr, removePitr } from "../../ops/pitr";
import { pidsLimitFor } from "../../configs/limits";
import { BARMAN_SERVER } from "../../configs/barman";
import { renderAlertRules } from "../../configs/prometheus";
import { BARMAN_BACKUPS, ETCD_DATA, PG_DATA, VOLUMES_PROBE, WAL_INCOMING } from "../../configs/layout";
import { docker } from "../support/docker";
import { Deployed, deployStack, pg, query } from "../support/stack";
import { waitBarmanCheck, waitFor } from "../support/workload";
import { leader, log, stackFile, tearDown, waitNewLeader, waitRejoined } from "../support/helpers";
import { E2E_STACKS } from "../support/e2eStacks";
import { metricNames, RULE_TEST_ARGS } from "../support/alertRuleTests";
import { startWebhookReceiver, WebhookReceiver } from "../support/webhook";
import { parseConfig } from "../../config";

const STACK = E2E_STACKS.barman.stack;
const CONFIG = {
    profile: "fast",
    patroniNodes: 3,
    etcdNodes: 1,
    subnet: E2E_STACKS.barman.subnet,
    serviceSubnet: E2E_STACKS.barman.serviceSubnet,
    prometheus: true,
    ports: E2E_STACKS.barman.ports,
};

/** Run `npm run status` against a stack's outputs: exit code and output. */
function runStatus(d: Deployed, ...extra: string[]): { code: number; out: string; stdout: string } {
    return runCli(d, "status", ...extra);
}

/** An operator command as a user runs it: `npm run <command> -- --outputs <file> ...`. */
function runCli(d: Deployed, command: string, ...extra: string[]): { code: number; out: string; stdout: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "outputs-"));
    const file = path.join(dir, "outputs.json");
    fs.writeFileSync(file, JSON.stringify(d.outputs), { mode: 0o600 });
    const r = spawnSync("npm", ["run", "--silent", command, "--", "--outputs", file, ...extra], {
        encoding: "utf8",
        cwd: path.resolve(__dirname, "..", ".."),
    });
    fs.rmSync(dir, { recursive: true });
    return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

/** Rows before a target time, rows after it, all archived; returns the target (UTC ISO, no zone). */
/** Rows before and after a target time; `form` "postgres" takes the target as `SELECT now()` prints it. */
async function rowsAroundTarget(
    d: Deployed,
    table: string,
    form: "iso" | "postgres" = "iso",
): Promise<{ target: string; before: number[]; after: number[] }> {
    const su = d.outputs.superuserConnectionString;
    await query(su, `CREATE TABLE ${table} (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())`);
    const before = [1, 2, 3, 4, 5],
        after = [6, 7, 8, 9, 10];
    for (const id of before) {
        await query(su, `INSERT INTO ${table} (id) VALUES ($1)`, [id]);
    }
    await new Promise(r => setTimeout(r, 1500));
    const [{ t }] = await query<{ t: string }>(
        su,
        form === "postgres"
            ? "SELECT now()::text AS t"
            : "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') AS t",
    );
    if (form === "postgres") {
        assert.match(t, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00$/, "now() as PostgreSQL prints it");
    }
    await new Promise(r => setTimeout(r, 1500));
    for (const id of after) {
        await query(su, `INSERT INTO ${table} (id) VALUES ($1)`, [id]);
    }
    return { target: t, before, after };
}

describe("e2e: Barman follows the leader", function () {
    this.timeout(E2E_STACKS.barman.timeoutMs);
    let d: Deployed;
    let container: string;
    // Alertmanager posts every alert to a receiver this suite runs on the host (reached via the gateway).
    let hook: WebhookReceiver;
    before(async () => {
        hook = await startWebhookReceiver();
        const gateway = parseConfig(CONFIG, STACK).spec.addresses.gateway;
        d = await deployStack(stackFile(STACK, { ...CONFIG, alertmanager: { webhookUrl: hook.url(gateway) } }), { log });
        container = d.outputs.barmanContainer;
    });
    after(async () => {
        await hook.close();
        await tearDown(STACK, d);
    });

    it("takes the first base backup by itself once the cluster is healthy", async () => {
        const seconds = await waitFor("the first base backup", 300, async () =>
            (await listBackups(container)).some(b => b.status === "DONE"),
        );
        console.log(`      first backup present ${seconds.toFixed(1)} s after the cluster was healthy`);
    });

    it("1. after switch-wal the segment arrives in Barman, and barman check passes", async () => {
        const { segment, seconds } = await switchWalAndWait(container);
        console.log(`      switch-wal: ${segment} archived in ${seconds.toFixed(1)} s`);
        await waitBarmanCheck(container, 180);
    });

    it("2. an on-demand backup (npm run backup) succeeds and is listed", async () => {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "outputs-")), "outputs.json");
        fs.writeFileSync(file, JSON.stringify(d.outputs), { mode: 0o600 });
        const started = Date.now();
        const r = spawnSync("npm", ["run", "--silent", "backup", "--", "--outputs", file], {
            encoding: "utf8",
            cwd: path.resolve(__dirname, "..", ".."),
        });
        assert.equal(r.status, 0, r.stderr);
        const id = r.stdout.trim();
        console.log(`      backup ${id} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        const listed = await listBackups(container);
        assert.ok(
            listed.some(b => b.id === id && b.status === "DONE"),
            JSON.stringify(listed),
        );
        fs.rmSync(path.dirname(file), { recursive: true });
    });

    it("2b. npm run backup right after npm run switchover waits for Barman to follow the new leader, then succeeds", async () => {
        const old = await leader(d.outputs);
        const sw = runCli(d, "switchover");
        assert.equal(sw.code, 0, sw.out);
        assert.notEqual((await leader(d.outputs)).name, old.name);
        const started = Date.now();
        const b = runCli(d, "backup");
        assert.equal(b.code, 0, b.out);
        const id = b.stdout.trim();
        const listed = await listBackups(container);
        const made = listed.find(x => x.id === id);
        assert.ok(made && made.status === "DONE", JSON.stringify(listed));
        assert.ok((made.timeline ?? 0) >= 2, `the backup comes from the new leader's timeline (got ${made.timeline})`);
        console.log(`      backup right after a switchover: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        await waitRejoined(d.outputs, old.name, 180);
    });

    it("2c. npm run drill restores the newest backup and reads it; a damaged backup fails the drill, status and the metrics", async () => {
        const metric = async (name: string) =>
            new RegExp(`^${name}\\{server="cluster"\\} (\\S+)$`, "m").exec(await (await fetch(d.outputs.metricsUrls.barman)).text())?.[1];
        const drill = (expect: "OK" | "FAILED") => {
            const r = runCli(d, "drill");
            assert.equal(r.code, expect === "OK" ? 0 : 1, r.out);
            console.log(`      ${r.stdout.trim()}`);
            return r.stdout;
        };
        const newest = (await listBackups(container)).filter(b => b.status === "DONE").sort((a, b) => b.id.localeCompare(a.id))[0].id;
        assert.match(
            drill("OK"),
            new RegExp(`restore drill of backup ${newest}: OK \\(\\d+ database\\(s\\), \\d+ bytes dumped\\) in [\\d.]+ s`),
        );
        await waitFor("the drill's verdict in Barman's metrics", 60, async () => (await metric("barman_restore_drill_ok")) === "1");
        assert.equal(await metric("barman_last_verify_ok"), "1", "the newest backup was verified after it was taken");
        // Damage one relation file of the newest backup (kept aside, put back afterwards).
        const file = (
            await docker(["exec", container, "sh", "-c", `ls -S "$BARMAN_BACKUPS"/cluster/base/${newest}/data/base/*/* | head -n 1`])
        ).trim();
        await docker(["exec", container, "cp", "-p", file, "/var/lib/barman/kept-aside"]);
        try {
            await docker(["exec", container, "sh", "-c", `printf 'damaged' | dd of="${file}" bs=1 seek=4096 conv=notrunc 2>/dev/null`]);
            assert.match(
                drill("FAILED"),
                new RegExp(`restore drill of backup ${newest}: FAILED: backup ${newest} failed verification: .*verify-backup`),
            );
            const st = runStatus(d);
            assert.equal(st.code, 1, st.out);
            assert.match(st.out, /restore drill: FAILED/);
            assert.match(st.out, new RegExp(`- the last restore drill \\(backup ${newest}\\) failed`));
            await waitFor("the failed drill in Barman's metrics", 60, async () => (await metric("barman_restore_drill_ok")) === "0");
            assert.equal(await metric("barman_last_verify_ok"), "0");
        } finally {
            await docker(["exec", container, "cp", "-p", "/var/lib/barman/kept-aside", file]);
            await docker(["exec", container, "rm", "-f", "/var/lib/barman/kept-aside"]);
        }
        drill("OK");
        await waitFor("the drill passing again in the metrics", 60, async () => (await metric("barman_restore_drill_ok")) === "1");
    });

    it("status exits 0 on the healthy stack and shows every member", async () => {
        let last = { code: -1, out: "", stdout: "" };
        await waitFor("status to report healthy", 120, async () => {
            last = runStatus(d);
            return last.code === 0;
        }).catch(() => assert.fail(last.out));
        assert.match(last.out, /^HEALTHY/);
        for (const n of ["db1", "db2", "db3"]) {
            assert.match(last.out, new RegExp(`\\b${n}\\b`));
        }
        // The same verdict for machines.
        const json = runStatus(d, "--json");
        assert.equal(json.code, 0, json.out);
        const parsed = JSON.parse(json.stdout) as {
            ok: boolean;
            reasons: string[];
            snapshot: { members: { name: string; role: string }[]; etcd: { endpoint: string; healthy: boolean }[] };
        };
        assert.equal(parsed.ok, true);
        // etcd's health read inside its member over TLS (its port is not published).
        assert.deepEqual(parsed.snapshot.etcd, [{ endpoint: `${d.outputs.etcdContainers![0]}`, healthy: true }]);
        assert.deepEqual(parsed.reasons, []);
        assert.deepEqual(parsed.snapshot.members.map(m => m.name).sort(), ["db1", "db2", "db3"]);
        assert.equal(parsed.snapshot.members.filter(m => m.role === "leader").length, 1);
    });

    it("Prometheus (optional) scrapes every part, loads the alert rules, and Barman's metrics say all is well", async () => {
        const url = d.outputs.prometheusUrl!;
        assert.equal(url, "http://127.0.0.1:28090/");
        await waitFor("every Prometheus target up", 120, async () => {
            const t = (await (await fetch(`${url}api/v1/targets`)).json()) as {
                data: { activeTargets: { labels: { job: string }; health: string }[] };
            };
            const jobs = t.data.activeTargets
                .filter(x => x.health === "up")
                .map(x => x.labels.job)
                .sort();
            return (
                JSON.stringify(jobs) ===
                JSON.stringify(["barman", "etcd", "haproxy", "patroni", "patroni", "patroni", "postgres", "volumes"])
            );
        });
        // The filesystem holding the stack's volumes, through volume-metrics' probe: the one every node's data
        // volume and etcd's are on (df inside them).
        const sizes = (await (
            await fetch(`${url}api/v1/query?query=${encodeURIComponent('node_filesystem_size_bytes{job="volumes"}')}`)
        ).json()) as { data: { result: { metric: { mountpoint: string }; value: [number, string] }[] } };
        const byMount = Object.fromEntries(sizes.data.result.map(r => [r.metric.mountpoint, Number(r.value[1])]));
        assert.deepEqual(Object.keys(byMount), [VOLUMES_PROBE]);
        for (const [part, dir] of [
            [`${STACK}-db1`, PG_DATA],
            [`${STACK}-db3`, PG_DATA],
            [`${STACK}-etcd1`, ETCD_DATA],
        ]) {
            const df = await docker(["exec", part, "df", "-B1", "--output=size", dir]);
            assert.equal(byMount[VOLUMES_PROBE], Number(df.split("\n").pop()!.trim()), `${part}: ${df}`);
        }
        const rules = (await (await fetch(`${url}api/v1/rules`)).json()) as {
            data: { groups: { rules: { name: string; health: string }[] }[] };
        };
        const loaded = rules.data.groups.flatMap(g => g.rules);
        // Exactly the rules the stack renders, each loaded without error.
        const parsedRules = (
            yaml.load(renderAlertRules(RULE_TEST_ARGS)) as { groups: { rules: { alert: string; expr: string }[] }[] }
        ).groups.flatMap(g => g.rules);
        const rendered = parsedRules.map(r => r.alert);
        assert.ok(rendered.length >= 13, `rendered ${rendered.length} rules`);
        assert.deepEqual(loaded.map(r => r.name).sort(), rendered.sort());
        assert.ok(
            loaded.every(r => r.health !== "err"),
            JSON.stringify(loaded),
        );
        // The rules read metrics the live stack exports (promtool's rule tests in configs.e2e.ts use these names).
        const wanted = [...new Set(parsedRules.flatMap(r => metricNames(r.expr)))].sort();
        assert.ok(wanted.length >= 12, `metrics named by the rules: ${wanted}`);
        let absent: string[] = wanted;
        await waitFor("every metric the alert rules read to be scraped", 120, async () => {
            const names = new Set(((await (await fetch(`${url}api/v1/label/__name__/values`)).json()) as { data: string[] }).data);
            absent = wanted.filter(n => !names.has(n));
            return absent.length === 0;
        }).catch(e => assert.fail(`${e.message}: not exported by the stack: ${absent.join(", ")}`));
        await waitFor("barman_check_ok 1", 60, async () =>
            (await (await fetch(d.outputs.metricsUrls.barman)).text()).includes('barman_check_ok{server="cluster"} 1'),
        );
    });

    it("11i. a node added and removed with Prometheus on: Prometheus and volume-metrics keep their containers, the targets follow", async () => {
        const url = d.outputs.prometheusUrl!;
        const ids = async () => docker(["inspect", "-f", "{{.Id}}", `${STACK}-prometheus`, `${STACK}-volume-metrics`]);
        const before = await ids();
        const patroniTargets = async () => {
            const t = (await (await fetch(`${url}api/v1/targets`)).json()) as {
                data: { activeTargets: { labels: { job: string; member?: string }; health: string }[] };
            };
            return t.data.activeTargets
                .filter(x => x.labels.job === "patroni" && x.health === "up")
                .map(x => x.labels.member)
                .sort()
                .join(",");
        };
        const gateway = parseConfig(CONFIG, STACK).spec.addresses.gateway;
        const deploy = (patroniNodes: number) =>
            deployStack(stackFile(STACK, { ...CONFIG, patroniNodes, alertmanager: { webhookUrl: hook.url(gateway) } }), {
                log,
                update: true,
            });
        d = await deploy(4);
        // Prometheus re-reads the targets file by itself (file_sd): no reload, no new container.
        await waitFor("db4 scraped", 90, async () => (await patroniTargets()) === "db1,db2,db3,db4");
        assert.equal(await ids(), before, "Prometheus's and volume-metrics' containers kept");
        d = await deploy(3);
        await waitFor("db4 no longer a target", 90, async () => (await patroniTargets()) === "db1,db2,db3");
        assert.equal(await ids(), before, "kept on the way back too");
    });

    it("4a. PITR to a moment ago (SELECT now() as PostgreSQL prints it, no manual WAL switch): exactly the rows before it", async () => {
        const { target, before } = await rowsAroundTarget(d, "pitr_before_failover", "postgres");
        const result = await pitr(d.outputs, { time: target }, { log });
        console.log(`      PITR (timeline 1, backup ${result.backupId}) restored and started in ${result.seconds.toFixed(1)} s`);
        const rows = await query<{ id: number }>(result.connectionString, "SELECT id FROM pitr_before_failover ORDER BY id");
        assert.deepEqual(
            rows.map(r => r.id),
            before,
        );
        // Confined as the stack's own containers: no capability, no escalation, a node's pids limit.
        assert.equal(
            await docker([
                "inspect",
                "-f",
                "{{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.HostConfig.PidsLimit}}",
                `${STACK}-pitr`,
            ]),
            `[ALL] [no-new-privileges:true] ${pidsLimitFor("patroni")}`,
        );
        await removePitr(d.outputs);
        assert.equal(await docker(["ps", "-aq", "--filter", `name=^${STACK}-pitr$`]), "");
    });

    it("4c. npm run pitr as a command: --target-xid and --target-lsn recover exactly the first transaction, --latest everything, --remove cleans up", async () => {
        const su = d.outputs.superuserConnectionString;
        await query(su, "CREATE TABLE pitr_cli (id int PRIMARY KEY)");
        const client = new Client(pg(su));
        await client.connect();
        let xid: string, lsn: string;
        try {
            await client.query("BEGIN");
            await client.query("INSERT INTO pitr_cli VALUES (1), (2), (3)");
            xid = (await client.query<{ x: string }>("SELECT pg_current_xact_id()::text AS x")).rows[0].x;
            await client.query("COMMIT");
            lsn = (await client.query<{ l: string }>("SELECT pg_current_wal_insert_lsn()::text AS l")).rows[0].l;
            await client.query("INSERT INTO pitr_cli VALUES (4), (5), (6)");
        } finally {
            await client.end();
        }
        await switchWalAndWait(container);
        for (const [flags, expected] of [
            [
                ["--target-xid", xid],
                [1, 2, 3],
            ],
            [
                ["--target-lsn", lsn],
                [1, 2, 3],
            ],
            [["--latest"], [1, 2, 3, 4, 5, 6]],
        ] as [string[], number[]][]) {
            const r = runCli(d, "pitr", ...flags);
            assert.equal(r.code, 0, r.out);
            const connectionString = r.stdout.trim().split("\n").pop()!;
            assert.match(connectionString, /^postgresql:\/\//, r.out);
            const rows = await query<{ id: number }>(connectionString, "SELECT id FROM pitr_cli ORDER BY id");
            assert.deepEqual(
                rows.map(x => x.id),
                expected,
                `${flags.join(" ")}: ${r.out}`,
            );
            const removed = runCli(d, "pitr", "--remove");
            assert.equal(removed.code, 0, removed.out);
            assert.equal(await docker(["ps", "-aq", "--filter", `name=^${STACK}-pitr$`]), "");
        }
        // The archive reaches now, so a target past the newest recoverable moment is in the future: refused
        // before anything is restored (no container, no volume).
        const late = runCli(d, "pitr", "--target-time", new Date(Date.now() + 3600_000).toISOString());
        assert.equal(late.code, 2, late.out);
        assert.match(late.out, /is in the future/);
        assert.equal(await docker(["ps", "-aq", "--filter", `name=^${STACK}-pitr$`]), "");
        assert.equal(await docker(["volume", "ls", "-q", "--filter", `name=^${STACK}-pitr-data$`]), "");
    });

    for (const round of [1, 2]) {
        it(`3.${round} kill the leader (failover ${round} of 2): archiving resumes on the new timeline with no gap, check passes, a new backup succeeds`, async () => {
            const old = await leader(d.outputs);
            const oldTimeline = Number((await memberStatus(memberApiUrl(d.outputs, old.name)!)).timeline);
            // Kill right after a segment switch (an idle cluster's archive_timeout does the same): the new
            // timeline then starts exactly at a segment boundary, where PostgreSQL 15's pg_receivewal cannot resume.
            await query(d.outputs.superuserConnectionString, "SELECT pg_switch_wal()");
            await docker(["kill", `${STACK}-${old.name}`]);
            const elected = await waitNewLeader(d.outputs, old.name, 120);
            if (round === 1) {
                const st = runStatus(d);
                assert.equal(st.code, 1, st.out);
                // The dead node itself must be named (not just any member's lag).
                assert.match(
                    st.out,
                    new RegExp(`${old.name} (is stopped|is crashed|is stopped or unreachable|does not stream|lag unknown)`),
                    st.out,
                );
            }
            const t0 = Date.now();
            let newTimeline = 0;
            await waitFor("a segment of the new timeline archived", 300, async () => {
                const { segment } = await switchWalAndWait(container, 60);
                newTimeline = parseInt(segment.slice(0, 8), 16);
                return newTimeline > oldTimeline;
            });
            console.log(
                `      failover ${round}: ${elected.name} leads on timeline ${newTimeline}; archiving resumed ${((Date.now() - t0) / 1000).toFixed(1)} s after the new leader was up`,
            );
            try {
                // The old timeline's last segment comes from the new leader (on-role-change marks it ready).
                let gaps: string[] = [];
                await waitFor("no missing segment", 120, async () => {
                    gaps = (await archiveGaps(container)).sinceOldestBackup;
                    return gaps.length === 0;
                }).catch(e => assert.fail(`${e.message}: ${gaps.join(", ")}`));
                await waitBarmanCheck(container, 240);
                const id = await takeBackup(container);
                assert.equal((await listBackups(container)).find(b => b.id === id)?.status, "DONE");
            } finally {
                await docker(["start", `${STACK}-${old.name}`]);
                await waitRejoined(d.outputs, old.name, 180);
            }
        });
    }

    it("4b. PITR to a time after two failovers, from a backup on timeline 1", async () => {
        const { target, before } = await rowsAroundTarget(d, "pitr_after_failovers");
        await switchWalAndWait(container);
        const first = [...(await listBackups(container))].filter(b => b.status === "DONE").sort((a, b) => a.id.localeCompare(b.id))[0];
        assert.equal(first.timeline, 1);
        const result = await pitr(d.outputs, { time: target }, { backupId: first.id, log });
        assert.ok(result.timeline >= 3, `followed timeline ${result.timeline}`);
        console.log(
            `      PITR (backup on timeline 1 -> timeline ${result.timeline}) restored and started in ${result.seconds.toFixed(1)} s`,
        );
        const rows = await query<{ id: number }>(result.connectionString, "SELECT id FROM pitr_after_failovers ORDER BY id");
        assert.deepEqual(
            rows.map(r => r.id),
            before,
        );
        await removePitr(d.outputs);
    });

    it("5. Barman down for 3 minutes: WAL written meanwhile waits in the shared volume and is archived afterwards, no gap", async () => {
        const su = d.outputs.superuserConnectionString;
        await docker(["stop", container]);
        const stopped = Date.now();
        const switched: string[] = [];
        for (let i = 0; i < 4; i++) {
            await query(su, "SELECT pg_logical_emit_message(false, 'patroni-ha', 'barman-down')");
            switched.push((await query<{ s: string }>(su, "SELECT pg_walfile_name(pg_switch_wal()) AS s"))[0].s);
            await new Promise(r => setTimeout(r, 20000));
        }
        const st = runStatus(d);
        assert.equal(st.code, 1, st.out);
        assert.match(st.out, /Barman unreachable/);
        const l = await leader(d.outputs);
        const waiting = (await docker(["exec", `${STACK}-${l.name}`, "ls", WAL_INCOMING])).split("\n").filter(Boolean);
        assert.ok(
            switched.every(s => waiting.includes(s)),
            `archived into the shared volume while Barman was down: ${waiting}`,
        );
        // Prometheus fires BarmanDown after 2 minutes without a scrape.
        await waitFor("the BarmanDown alert firing", Math.max(30, 175 - (Date.now() - stopped) / 1000), async () => {
            const a = (await (await fetch(`${d.outputs.prometheusUrl}api/v1/alerts`)).json()) as {
                data: { alerts: { labels: { alertname: string }; state: string }[] };
            };
            return a.data.alerts.some(x => x.labels.alertname === "BarmanDown" && x.state === "firing");
        });
        // ... and Alertmanager delivers it to the webhook.
        await waitFor("BarmanDown to reach the webhook through Alertmanager", 90, async () =>
            hook.alerts.some(x => x.labels.alertname === "BarmanDown" && x.status === "firing"),
        );
        await new Promise(r => setTimeout(r, Math.max(0, 180000 - (Date.now() - stopped))));
        await docker(["start", container]);
        const seconds = await waitFor("the WAL written while Barman was down to be archived", 300, async () => {
            const names = await archivedWalNames(container);
            return switched.every(s => names.has(s));
        });
        console.log(`      after 3 minutes down, Barman archived the backlog ${seconds.toFixed(1)} s after its start`);
        assert.deepEqual((await archiveGaps(container)).sinceOldestBackup, []);
        await waitBarmanCheck(container, 420);
        // Barman back: the webhook hears that BarmanDown is resolved.
        await waitFor("BarmanDown resolved at the webhook", 180, async () =>
            hook.alerts.some(x => x.labels.alertname === "BarmanDown" && x.status === "resolved"),
        );
    });

    it("5b. a gap, if one happens, is reported by the health check, status and metrics; a new base backup makes PITR work again from then on", async () => {
        const lost = (await switchWalAndWait(container)).segment;
        await switchWalAndWait(container);
        // Simulate the loss (e.g. a damaged disk): remove one archived segment after the newest backup.
        await docker(["exec", container, "find", `${BARMAN_BACKUPS}/${BARMAN_SERVER}/wals`, "-name", lost, "-delete"]);
        assert.deepEqual((await archiveGaps(container)).sinceNewestBackup, [lost]);
        const health = await dockerExec(container, ["barman-health", "cluster"]);
        assert.notEqual(health.code, 0);
        assert.match(health.stdout, new RegExp(`WAL GAP since the newest backup: ${lost}`));
        const st = runStatus(d);
        assert.equal(st.code, 1, st.out);
        assert.match(st.out, new RegExp(`missing segment\\(s\\) since the newest backup \\(${lost}.*npm run backup`));
        await waitFor("barman_wal_gaps in the metrics", 60, async () =>
            (await (await fetch(d.outputs.metricsUrls.barman)).text()).includes(
                'barman_wal_gaps{server="cluster",scope="since_newest_backup"} 1',
            ),
        );
        const id = await takeBackup(container);
        // Every segment reaches Barman twice in streaming mode (pg_receivewal and archive_command): the second,
        // identical copy sits in errors/ until Barman's loop clears it (every 15 s), and `barman check` says
        // "duplicates" meanwhile. So the health comes back within a loop or two, not at once.
        let healthy = { code: -1, stdout: "" };
        await waitFor("barman-health passing after the new backup", 90, async () => {
            healthy = await dockerExec(container, ["barman-health", "cluster"]);
            return healthy.code === 0;
        }).catch(() => assert.fail(healthy.stdout));
        let healed = { code: -1, out: "" };
        await waitFor("status healthy again", 120, async () => {
            healed = runStatus(d);
            return healed.code === 0;
        }).catch(() => assert.fail(healed.out));
        assert.match(healed.out, new RegExp(`older WAL gaps: ${lost}: backups before ${id} recover only up to them`));
        const { target, before } = await rowsAroundTarget(d, "pitr_after_gap");
        await switchWalAndWait(container);
        const result = await pitr(d.outputs, { time: target }, { log });
        assert.equal(result.backupId, id, "the new backup, taken after the gap, is the one used");
        const rows = await query<{ id: number }>(result.connectionString, "SELECT id FROM pitr_after_gap ORDER BY id");
        assert.deepEqual(
            rows.map(r => r.id),
            before,
        );
        console.log(
            `      gap ${lost}: reported by health, status and metrics; PITR from the new backup ${id} restored in ${result.seconds.toFixed(1)} s`,
        );
        await removePitr(d.outputs);
    });
});
