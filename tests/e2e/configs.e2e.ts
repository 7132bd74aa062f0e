// Real-tool checks: the rendered configs, validated by the tools themselves inside the built images,
// with a broken variant of each proving the check can fail.
import { strict as assert } from "assert";
import * as path from "path";
import { parseConfig, restApiClients } from "../../config";
import { renderBarmanConf, renderBarmanServer } from "../../configs/barman";
import { renderHaproxyCfg } from "../../configs/haproxy";
import { bootstrapPgHba } from "../../configs/dcs";
import {
    ALERTMANAGER_CONFIG,
    API_PORT,
    HAPROXY_STATS_PEM,
    layoutBuildArgs,
    PROMETHEUS_CONFIG,
    PROMETHEUS_PATRONI_TARGETS,
    PROMETHEUS_RULES,
    TLS_FILES,
} from "../../configs/layout";
import { renderAlertmanagerYml } from "../../configs/alertmanager";
import { renderPatroniYml } from "../../configs/patroni";
import { renderAlertRules, renderPatroniTargets, renderPrometheusYml } from "../../configs/prometheus";
import { renderSshdConfig } from "../../configs/ssh";
import { cronProblem } from "../../lib/cron";
import { CRON_SAMPLES } from "../support/cronSamples";
import { renderRuleTests, RULE_TEST_ARGS } from "../support/alertRuleTests";
import { authority, serverCert } from "../support/certificates";
import { docker, run } from "../support/docker";
import { ROOT } from "../support/stack";
import { CONFIG_CHECKS } from "../support/e2eStacks";

const TAG = CONFIG_CHECKS.tag;
const spec = parseConfig({ subnet: CONFIG_CHECKS.subnet }, TAG).spec;

/** Run a shell script in an image, with files written from stdin (a tar would be overkill for text). */
async function inImage(role: string, files: Record<string, string>, script: string, user?: string): Promise<{ code: number; out: string }> {
    const setup =
        Object.entries(files)
            .map(([p, content]) => `mkdir -p ${path.dirname(p)} && printf '%s' '${content.replace(/'/g, "'\\''")}' > ${p}`)
            .join(" && ") || "true";
    const r = await run(
        "docker",
        [
            "run",
            "--rm",
            ...(user ? ["--user", user] : []),
            "--entrypoint",
            "sh",
            `patroni-ha-${role}:${TAG}`,
            "-c",
            `${setup} && ${script}`,
        ],
        { allowFail: true },
    );
    return { code: r.code, out: `${r.stdout}${r.stderr}` };
}

/** A CA where the configs name the stack's (HAProxy's and Prometheus's checks load its certificate). */
const CHECK_AUTHORITY = authority("config check CA");
const CHECK_CA = CHECK_AUTHORITY.cert;

/** The check stack's prometheus.yml, sending alerts to an Alertmanager at `alertmanagerAddress` when given. */
const prometheusYml = (alertmanagerAddress?: string) =>
    renderPrometheusYml({
        etcd: spec.etcd,
        haproxyAddress: spec.addresses.haproxy,
        exporterAddress: spec.addresses.exporter,
        barmanAddress: spec.addresses.barman,
        volumeMetricsAddress: spec.addresses.volumeMetrics,
        alertmanagerAddress,
    });

describe("e2e: rendered configs pass their own tools' checks", function () {
    this.timeout(CONFIG_CHECKS.timeoutMs);
    before(async () => {
        await run("bash", [path.join(ROOT, "scripts", "ensure-base-image.sh"), spec.baseImage], { timeoutMs: 600000 });
        for (const role of ["haproxy", "patroni", "barman", "prometheus", "alertmanager"]) {
            await docker(
                [
                    "build",
                    "-q",
                    "-t",
                    `patroni-ha-${role}:${TAG}`,
                    ...Object.entries({ BASE_IMAGE: spec.baseImage, ...layoutBuildArgs(role) }).flatMap(([k, v]) => [
                        "--build-arg",
                        `${k}=${v}`,
                    ]),
                    "-f",
                    path.join(ROOT, "images", role, "Dockerfile"),
                    path.join(ROOT, "images"),
                ],
                { timeoutMs: 900000 },
            );
        }
    });
    after(async () => {
        await docker(["image", "rm", ...["haproxy", "patroni", "barman", "prometheus"].map(r => `patroni-ha-${r}:${TAG}`)], {
            allowFail: true,
        });
    });

    it("haproxy -c accepts haproxy.cfg (and rejects a broken one)", async () => {
        const cfg = renderHaproxyCfg({ servers: spec.members, maximumLagOnFailover: 1048576, timings: spec.haproxy });
        // As root, to place the CA file the health checks verify the nodes with (the stack uploads it) and the
        // stats page's certificate and key (haproxy-start writes them at start).
        const stats = serverCert(CHECK_AUTHORITY, ["127.0.0.1"]);
        const tlsFiles = { [TLS_FILES.ca]: CHECK_AUTHORITY.cert, [HAPROXY_STATS_PEM]: `${stats.cert}${stats.key}` };
        const check = (text: string, files: Record<string, string> = tlsFiles) =>
            inImage(
                "haproxy",
                { "/tmp/haproxy.cfg": text, ...files },
                "STATS_USER=a STATS_PASSWORD=b haproxy -c -f /tmp/haproxy.cfg",
                "root",
            );
        const good = await check(cfg);
        assert.equal(good.code, 0, good.out);
        assert.match(good.out, /Configuration file is valid/);
        for (const missing of Object.keys(tlsFiles)) {
            const without = await check(cfg, Object.fromEntries(Object.entries(tlsFiles).filter(([k]) => k !== missing)));
            assert.notEqual(without.code, 0, `${missing} is loaded: without it the config must fail (${without.out})`);
        }
        const bad = await check(cfg.replace("default_backend primary", "default_backend no_such_backend"));
        assert.notEqual(bad.code, 0, "a config naming a missing backend must fail the check");
    });

    it("patroni --validate-config accepts patroni.yml (and rejects a broken one)", async () => {
        const yml = renderPatroniYml({
            scope: TAG,
            name: "db1",
            address: spec.members[0].address,
            etcdAddresses: spec.etcd.map(e => e.address),
            pgHba: bootstrapPgHba(spec.subnet),
            apiAllowlist: [...restApiClients(spec), "127.0.0.1"],
        });
        const env =
            "PATRONI_SUPERUSER_PASSWORD=x PATRONI_REPLICATION_PASSWORD=x PATRONI_REWIND_PASSWORD=x PATRONI_RESTAPI_USERNAME=u PATRONI_RESTAPI_PASSWORD=x";
        const check = (text: string) =>
            inImage("patroni", { "/tmp/patroni.yml": text }, `${env} patroni --validate-config /tmp/patroni.yml`, "postgres");
        const good = await check(yml);
        assert.equal(good.code, 0, good.out);
        const bad = await check(yml.replace("/usr/lib/postgresql/15/bin", "/nonexistent/bin"));
        assert.notEqual(bad.code, 0, `a bin_dir that does not exist must fail: ${bad.out}`);
    });

    it("barman reads barman.conf and the server section with the intended settings", async () => {
        const files = {
            "/tmp/b/barman.conf": renderBarmanConf(spec.barman).replace(
                "configuration_files_directory = /etc/barman.d",
                "configuration_files_directory = /tmp/b/conf.d",
            ),
            "/tmp/b/conf.d/cluster.conf": renderBarmanServer({ stack: TAG, haproxyAddress: spec.addresses.haproxy, mode: "streaming" }),
        };
        const r = await inImage("barman", files, "barman -c /tmp/b/barman.conf show-servers cluster", "barman");
        assert.equal(r.code, 0, r.out);
        for (const line of [
            /backup_method: postgres/,
            /streaming_archiver: True/,
            /archiver: True/,
            /slot_name: barman/,
            /incoming_wals_directory: \/var\/lib\/barman-wal\/incoming/,
            /retention_policy: RECOVERY WINDOW OF 1 DAYS/,
            /compression: gzip/,
        ]) {
            assert.match(r.out, line);
        }
        const bad = await inImage(
            "barman",
            {
                ...files,
                "/tmp/b/conf.d/cluster.conf": files["/tmp/b/conf.d/cluster.conf"].replace(
                    "backup_method = postgres",
                    "backup_method = nonsense",
                ),
            },
            "barman -c /tmp/b/barman.conf show-servers cluster",
            "barman",
        );
        // Barman exits 0 either way; its verdict is the server's "disabled" flag (and a warning naming the key).
        assert.match(r.out, /^\s*disabled: False$/m, "the rendered server section must leave the server enabled");
        assert.equal(bad.code, 0, bad.out);
        assert.match(bad.out, /^\s*disabled: True$/m, `an invalid backup_method must disable the server: ${bad.out}`);
        assert.match(bad.out, /invalid configuration value 'nonsense' for key backup_method/);
    });

    it("the Barman image's croniter accepts exactly the schedules the deploy-time check accepts", async () => {
        const quoted = CRON_SAMPLES.map(c => `'${c.expr}'`).join(" ");
        const r = await inImage("barman", {}, `barman-ha cron-check ${quoted}`, "barman");
        assert.equal(r.code, 0, r.out);
        const verdicts = JSON.parse(r.out.trim().split("\n").pop()!) as boolean[];
        assert.equal(verdicts.length, CRON_SAMPLES.length);
        assert.deepEqual(
            CRON_SAMPLES.filter((c, i) => verdicts[i] !== c.valid || (cronProblem(c.expr) === undefined) !== c.valid).map(c => c.expr),
            [],
            "schedules where the image and lib/cron.ts disagree",
        );
    });

    it("barman reads the rsync-mode server section (backup_method rsync, ssh_command to the leader route)", async () => {
        const files = {
            "/tmp/b/barman.conf": renderBarmanConf(spec.barman).replace(
                "configuration_files_directory = /etc/barman.d",
                "configuration_files_directory = /tmp/b/conf.d",
            ),
            "/tmp/b/conf.d/cluster.conf": renderBarmanServer({ stack: TAG, haproxyAddress: spec.addresses.haproxy, mode: "rsync" }),
        };
        const r = await inImage("barman", files, "barman -c /tmp/b/barman.conf show-servers cluster", "barman");
        assert.equal(r.code, 0, r.out);
        for (const line of [
            /backup_method: rsync/,
            /streaming_archiver: False/,
            /archiver: True/,
            /ssh_command: ssh -F \/etc\/ssh-ha\/ssh_config leader/,
            /reuse_backup: link/,
            /incoming_wals_directory: \/data\/pg-backup\/cluster\/incoming/,
        ]) {
            assert.match(r.out, line);
        }
    });

    it("sshd -t accepts the rendered sshd_config in both images (and rejects a broken one)", async () => {
        for (const [role, user] of [
            ["patroni", "postgres"],
            ["barman", "barman"],
        ]) {
            const check = (text: string) =>
                inImage(
                    role,
                    { "/tmp/sshd_config": text },
                    "ssh-keygen -q -t ed25519 -N '' -f /run/ssh-ha/host_key && /usr/sbin/sshd -t -f /tmp/sshd_config",
                    user,
                );
            const good = await check(renderSshdConfig(user));
            assert.equal(good.code, 0, `${role}: ${good.out}`);
            const bad = await check(renderSshdConfig(user).replace("UsePAM no", "UsePAM maybe"));
            assert.notEqual(bad.code, 0, `${role}: an invalid option value must fail: ${bad.out}`);
        }
    });

    it("amtool accepts alertmanager.yml, and promtool the alerting section that points Prometheus at it (a broken route fails)", async () => {
        const am = renderAlertmanagerYml({ webhookUrl: "https://hooks.example.com/pg?team=db" });
        const good = await inImage("alertmanager", { [ALERTMANAGER_CONFIG]: am }, `amtool check-config ${ALERTMANAGER_CONFIG}`, "root");
        assert.equal(good.code, 0, good.out);
        assert.match(good.out, /SUCCESS/);
        assert.match(good.out, /1 receivers/);
        const bad = await inImage(
            "alertmanager",
            { [ALERTMANAGER_CONFIG]: am.replace("receiver: webhook", "receiver: nobody") },
            `amtool check-config ${ALERTMANAGER_CONFIG}`,
            "root",
        );
        assert.notEqual(bad.code, 0, `a route to an undefined receiver must fail: ${bad.out}`);
        const yml = prometheusYml(spec.addresses.alertmanager);
        const prom = await inImage(
            "prometheus",
            { [PROMETHEUS_CONFIG]: yml, [PROMETHEUS_RULES]: renderAlertRules(RULE_TEST_ARGS), [TLS_FILES.ca]: CHECK_CA },
            `promtool check config ${PROMETHEUS_CONFIG}`,
            "root",
        );
        assert.equal(prom.code, 0, prom.out);
    });

    it("promtool accepts prometheus.yml and the alert rules (and rejects a broken rule)", async () => {
        const yml = prometheusYml();
        const rules = renderAlertRules({ maximumLagOnFailover: 1048576, backupMaxAgeSeconds: 93600 });
        const good = await inImage(
            "prometheus",
            { [PROMETHEUS_CONFIG]: yml, [PROMETHEUS_RULES]: rules, [TLS_FILES.ca]: CHECK_CA },
            "promtool check config /etc/prometheus/prometheus.yml",
            "root",
        );
        assert.equal(good.code, 0, good.out);
        // The Patroni members' targets file, through Prometheus's own discovery: every member by address and
        // name, over HTTPS; a broken file discovers nothing and says why.
        const discover = async (targets: string) => {
            const r = await inImage(
                "prometheus",
                { [PROMETHEUS_CONFIG]: yml, [TLS_FILES.ca]: CHECK_CA, [PROMETHEUS_PATRONI_TARGETS]: targets },
                `promtool check service-discovery --timeout=5s ${PROMETHEUS_CONFIG} patroni 2>/tmp/err; echo; echo ---; cat /tmp/err`,
                "root",
            );
            const [json, log] = r.out.split("\n---\n");
            return { found: JSON.parse(json) as { labels: Record<string, string> }[], out: log ?? r.out };
        };
        const targets = renderPatroniTargets(spec.members);
        const found = (await discover(targets)).found.map(t => `${t.labels.member} ${t.labels.__scheme__}://${t.labels.__address__}`);
        assert.deepEqual(found.sort(), spec.members.map(m => `${m.name} https://${m.address}:${API_PORT}`).sort());
        const broken = await discover(targets.slice(0, -4));
        assert.deepEqual(broken.found, [], broken.out);
        assert.match(broken.out, /Error reading file/);
        // Every rule the renderer writes is one promtool counts.
        const count = (rules.match(/^\s*- alert: /gm) ?? []).length;
        assert.ok(count >= 13, `rendered ${count} rules`);
        assert.match(good.out, new RegExp(`${count} rules found`));
        const bad = await inImage(
            "prometheus",
            { [PROMETHEUS_RULES]: rules.replace("sum(patroni_primary) < 1", "sum(patroni_primary < 1") },
            "promtool check rules /etc/prometheus/rules.yml",
            "root",
        );
        assert.notEqual(bad.code, 0, "a rule with a syntax error must fail the check");
    });

    it("promtool test rules: each alert rule is silent while all is well and fires on its fault (and a wrong threshold fails)", async () => {
        const rules = renderAlertRules(RULE_TEST_ARGS);
        const testFile = `${path.dirname(PROMETHEUS_RULES)}/rules.test.yml`;
        const tests = renderRuleTests(rules, path.basename(PROMETHEUS_RULES));
        const promtoolTest = (ruleText: string) =>
            inImage("prometheus", { [PROMETHEUS_RULES]: ruleText, [testFile]: tests }, `promtool test rules ${testFile}`, "root");
        const good = await promtoolTest(rules);
        assert.equal(good.code, 0, good.out);
        assert.match(good.out, /SUCCESS/);
        // A backup-age threshold a hundred times too high: BackupTooOld never fires, and the test says so.
        const broken = rules.replace(`> ${RULE_TEST_ARGS.backupMaxAgeSeconds}`, `> ${RULE_TEST_ARGS.backupMaxAgeSeconds * 100}`);
        assert.notEqual(broken, rules);
        const bad = await promtoolTest(broken);
        assert.notEqual(bad.code, 0, bad.out);
        assert.match(bad.out, /BackupTooOld/);
    });
});
