import { strict as assert } from "assert";
import * as yaml from "js-yaml";
import { layoutBuildArgs, SECRET_ENV } from "../../configs/layout";
import { byType, container, containers, isWrappedSecret, runProgram, unwrap } from "../support/program";
import { pidsLimitFor } from "../../configs/limits";

const VOLUME = "docker:index/volume:Volume";
const NETWORK = "docker:index/network:Network";
const IMAGE = "docker:index/image:Image";
const DYNAMIC = "pulumi-nodejs:dynamic:Resource";
/** The DCS configuration resource (the others: the etcd membership guard, the rollout steps). */
const dcsOf = (run: Awaited<ReturnType<typeof runProgram>>) => byType(run, DYNAMIC).find(r => r.name.endsWith("-dcs-config"))!;
/** Each node's container fingerprint, as the rollout steps get them. */
const fingerprintsOf = (run: Awaited<ReturnType<typeof runProgram>>) =>
    unwrap(byType(run, DYNAMIC).find(r => r.name.endsWith("-rollout-done"))!.inputs.fingerprints) as Record<string, string>;

function envOf(c: { inputs: Record<string, unknown> }): Record<string, string> {
    return Object.fromEntries((unwrap(c.inputs.envs) as string[]).map(e => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}
/** The content of the secret file a node gets (SECRET_ENV) and whether the state holds it as a secret. */
function secretFileOf(c: { inputs: Record<string, unknown> }): { content: string; secret: boolean } | undefined {
    const raw = c.inputs.uploads;
    // A secret element makes the whole list secret in the serialized inputs.
    const uploads = (isWrappedSecret(raw) ? (raw as { value: unknown }).value : raw) as { file: string; content: unknown }[] | undefined;
    const file = uploads?.find(u => u.file === SECRET_ENV);
    return file && { content: unwrap(file.content) as string, secret: isWrappedSecret(raw) || isWrappedSecret(file.content) };
}
/** The container's environment and its secret file's NAME=value lines together (what its processes see). */
function settingsOf(c: { inputs: Record<string, unknown> }): Record<string, string> {
    const secrets = secretFileOf(c)?.content.split("\n").filter(Boolean) ?? [];
    const env = c.inputs.envs === undefined ? [] : (unwrap(c.inputs.envs) as string[]);
    return Object.fromEntries([...env, ...secrets].map(e => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}
/** haproxy.cfg as the stack writes it into the HAProxy container (its ContainerFile, applied by haproxy-apply-config). */
function haproxyCfg(run: Awaited<ReturnType<typeof runProgram>>): string {
    const file = byType(run, DYNAMIC).find(r => r.name === "cluster-haproxy-config");
    assert.ok(file, "no cluster-haproxy-config");
    assert.deepEqual(file.inputs.command, ["secret-env", "haproxy-apply-config"]);
    assert.equal(file.inputs.path, "/var/lib/haproxy-ha/haproxy.cfg");
    return file.inputs.content as string;
}
function upload(c: { inputs: Record<string, unknown> }, file: string): string {
    const u = (unwrap(c.inputs.uploads) as { file: string; content: string }[]).find(x => x.file === file);
    assert.ok(u, `no upload ${file}`);
    return u.content;
}

describe("program: resources per topology", () => {
    for (const [patroniNodes, etcdNodes] of [
        [1, 1],
        [3, 3],
        [5, 5],
        [7, 3],
        [4, 3],
    ]) {
        it(`${patroniNodes} Patroni and ${etcdNodes} etcd members`, async () => {
            const run = await runProgram({ patroniNodes, etcdNodes }, "topo");
            const names = containers(run)
                .map(c => unwrap(c.inputs.name))
                .sort();
            const expected = [
                ...Array.from({ length: patroniNodes }, (_, i) => `topo-db${i + 1}`),
                ...Array.from({ length: etcdNodes }, (_, i) => `topo-etcd${i + 1}`),
                "topo-barman",
                "topo-exporter",
                "topo-haproxy",
                "topo-sentinel",
            ].sort();
            assert.deepEqual(names, expected);
            // data per node and per etcd member, Barman's home and backups, the shared WAL volume
            assert.equal(byType(run, VOLUME).length, patroniNodes + etcdNodes + 3);
            assert.equal(byType(run, NETWORK).length, 2);
            assert.equal(byType(run, IMAGE).length, 6);
            assert.deepEqual(
                byType(run, DYNAMIC)
                    .map(r => r.name)
                    .sort(),
                [
                    "cluster-dcs-config",
                    "cluster-etcd-membership",
                    "cluster-haproxy-config",
                    ...Array.from({ length: patroniNodes }, (_, i) => `cluster-rollout-db${i + 1}`),
                    ...Array.from({ length: etcdNodes }, (_, i) => `cluster-etcd-rollout-etcd${i + 1}`),
                    "cluster-rollout-done",
                    // A pids limit per container.
                    ...names.map(n => n.replace(/^topo-/, "cluster-pids-")),
                ].sort(),
            );
            assert.equal(byType(run, "random:index/randomPassword:RandomPassword").length, 9);
            for (const type of [
                "PatroniCluster",
                "EtcdCluster",
                "HaproxyGateway",
                "BarmanServer",
                "MetricsExporter",
                "StackImages",
                "FailoverSentinel",
            ]) {
                assert.equal(byType(run, `patroni-ha:index:${type}`).length, 1, type);
            }
            assert.equal(byType(run, "patroni-ha:index:PatroniNode").length, patroniNodes);
            // Every slot (db1 … db9 at .21 … .29) in both backends, whatever patroniNodes is.
            const servers = haproxyCfg(run).match(/^\s+server db\d \S+/gm) ?? [];
            assert.equal(servers.length, 2 * 9);
            assert.match(servers[8], /server db9 10\.\d+\.\d+\.29:5431$/);
        });
    }
});

describe("program: container inputs (dev stack)", () => {
    let run: Awaited<ReturnType<typeof runProgram>>;
    before(async () => {
        run = await runProgram({ subnet: "10.77.1.0/24", serviceSubnet: "10.78.1.0/24" }, "dev");
    });

    it("every container: built image, restart policy, init, bounded logs, labels, healthcheck, fixed address", () => {
        for (const c of containers(run)) {
            const name = unwrap(c.inputs.name) as string;
            assert.match(String(c.inputs.image), /^sha256:cluster-images-(etcd|patroni|haproxy|barman|exporter|sentinel)$/, name);
            assert.equal(c.inputs.restart, "unless-stopped", name);
            assert.equal(c.inputs.init, true, name);
            assert.equal(c.inputs.logDriver, "json-file", name);
            assert.deepEqual(c.inputs.logOpts, { "max-file": "3", "max-size": "10m" }, name);
            assert.ok(
                (c.inputs.labels as { label: string; value: string }[]).some(l => l.label === "patroni-ha.stack" && l.value === "dev"),
                name,
            );
            const hc = c.inputs.healthcheck as { tests: string[] };
            assert.equal(hc.tests[0], "CMD-SHELL", name);
        }
    });

    it("networks by role: etcd, the nodes and the sentinel on the stack network; the rest only on the service network", () => {
        const joined = Object.fromEntries(
            containers(run).map(c => [
                unwrap(c.inputs.name) as string,
                (c.inputs.networksAdvanced as { name: string; ipv4Address: string }[]).map(n => `${n.name} ${n.ipv4Address}`),
            ]),
        );
        const both = (offset: number) => [`dev-net 10.77.1.${offset}`, `dev-services 10.78.1.${offset}`];
        assert.deepEqual(joined, {
            ...Object.fromEntries([1, 2, 3].map(n => [`dev-etcd${n}`, both(10 + n)])),
            ...Object.fromEntries([1, 2, 3, 4].map(n => [`dev-db${n}`, both(20 + n)])),
            "dev-sentinel": ["dev-net 10.77.1.7"],
            "dev-haproxy": ["dev-services 10.78.1.2"],
            "dev-barman": ["dev-services 10.78.1.3"],
            "dev-exporter": ["dev-services 10.78.1.4"],
        });
        // etcd's client and peer ports listen on its stack-network address (and loopback) only: on the service
        // network only the plain metrics port answers.
        for (const n of [1, 2, 3]) {
            const cmd = container(run, `dev-etcd${n}`).inputs.command as string[];
            assert.ok(cmd.includes(`--listen-client-urls=https://10.77.1.${10 + n}:2379,https://127.0.0.1:2379`), cmd.join(" "));
            assert.ok(cmd.includes(`--listen-peer-urls=https://10.77.1.${10 + n}:2380`), cmd.join(" "));
            assert.ok(cmd.includes("--listen-metrics-urls=http://0.0.0.0:2381"), cmd.join(" "));
        }
    });

    it("HAProxy is declared after the nodes' rolling replacement ends, so a change moving both (a new network) finds every node", () => {
        const at = (name: string) => run.resources.findIndex(r => r.name === name);
        const done = at("cluster-rollout-done");
        assert.ok(done >= 0);
        assert.ok(at("cluster-haproxy-container") > done, `HAProxy at ${at("cluster-haproxy-container")}, the rollout's end at ${done}`);
    });

    it("every container gets a pids limit for its role (set with docker update: the provider has no input for it)", () => {
        const limits = Object.fromEntries(
            byType(run, DYNAMIC)
                .filter(r => /^cluster-pids-/.test(r.name))
                .map(r => [r.inputs.container as string, [r.inputs.limit, r.inputs.containerId]]),
        );
        const expected: Record<string, number> = {
            "dev-etcd1": 512,
            "dev-etcd2": 512,
            "dev-etcd3": 512,
            "dev-db1": 2048,
            "dev-db2": 2048,
            "dev-db3": 2048,
            "dev-db4": 2048,
            "dev-haproxy": 256,
            "dev-barman": 1024,
            "dev-exporter": 256,
            "dev-sentinel": 256,
        };
        assert.deepEqual(Object.fromEntries(Object.entries(limits).map(([k, [limit]]) => [k, limit])), expected);
        for (const c of containers(run)) {
            const name = unwrap(c.inputs.name) as string;
            assert.match(String(limits[name][1]), /-id$/, `${name}: the limit follows its container's ID (a replacement gets it again)`);
        }
        // A node's limit grows with max_connections (one backend each).
        assert.equal(pidsLimitFor("patroni", { max_connections: 3000 }), 6512);
        assert.equal(pidsLimitFor("patroni", { max_connections: 500 }), 2048);
    });

    it("the two networks have the configured subnets and gateways", () => {
        const nets = Object.fromEntries(byType(run, NETWORK).map(n => [n.inputs.name as string, n.inputs.ipamConfigs]));
        assert.deepEqual(nets, {
            "dev-net": [{ subnet: "10.77.1.0/24", gateway: "10.77.1.1" }],
            "dev-services": [{ subnet: "10.78.1.0/24", gateway: "10.78.1.1" }],
        });
    });

    it("Patroni nodes: ports on bindAddress as in the seed, volume, env, patroni.yml", () => {
        for (let n = 1; n <= 4; n++) {
            const c = container(run, `dev-db${n}`);
            assert.deepEqual(c.inputs.ports, [
                { internal: 5431, external: 15430 + n, ip: "127.0.0.1" },
                { internal: 8001, external: 8000 + n, ip: "127.0.0.1" },
            ]);
            assert.deepEqual(c.inputs.volumes, [
                { volumeName: `dev-db${n}-data`, containerPath: "/var/lib/postgresql" },
                { volumeName: "dev-wal", containerPath: "/var/lib/barman-wal" },
            ]);
            assert.equal(c.inputs.user, "postgres");
            assert.deepEqual(c.inputs.command, ["secret-env", "tls-key", "patroni-entrypoint", "/etc/patroni/patroni.yml"]);
            assert.equal(c.inputs.stopSignal, "SIGTERM");
            assert.ok(Number(c.inputs.stopTimeout) >= 30);
            const yml = yaml.load(upload(c, "/etc/patroni/patroni.yml")) as Record<string, any>;
            assert.equal(yml.name, `db${n}`);
            assert.deepEqual(yml.postgresql.callbacks, {
                on_start: "/usr/local/bin/patroni-on-role-change",
                on_role_change: "/usr/local/bin/patroni-on-role-change",
            });
            assert.equal(yml.postgresql.use_unix_socket, true, "Patroni connects over the socket (peer), not with the superuser password");
            assert.equal(yml.restapi.connect_address, `10.77.1.${20 + n}:8001`);
            assert.deepEqual(
                yml.restapi.allowlist,
                ["10.77.1.1", "10.78.1.1", ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map(k => `10.77.1.${20 + k}`), "127.0.0.1"],
                "unsafe endpoints: either gateway (host tools), every stack-network address a node may have (POST /failsafe), loopback",
            );
            const env = settingsOf(c);
            assert.equal(env.PATRONI_SUPERUSER_PASSWORD, "pw-cluster-superuser-password");
            assert.equal(env.PATRONI_RESTAPI_PASSWORD, "pw-cluster-patroni-api-password");
            assert.equal(env.APP_DATABASE, "app");
            assert.match((c.inputs.healthcheck as { tests: string[] }).tests[1], /8001\/health/);
        }
    });

    it("a node's environment holds no secret: passwords and keys are in its secret file, a secret upload read by secret-env", () => {
        for (let n = 1; n <= 4; n++) {
            const c = container(run, `dev-db${n}`);
            assert.deepEqual(envOf(c), { PATRONICTL_CONFIG_FILE: "/etc/patroni/patroni.yml", APP_DATABASE: "app", APP_USER: "app" });
            assert.ok(secretFileOf(c)?.secret, "the file's content is secret in the state");
            assert.deepEqual(
                Object.keys(settingsOf(c))
                    .filter(k => !(k in envOf(c)))
                    .sort(),
                [
                    "APP_PASSWORD",
                    "BARMAN_PASSWORD",
                    "MONITOR_PASSWORD",
                    "PATRONI_REPLICATION_PASSWORD",
                    "PATRONI_RESTAPI_PASSWORD",
                    "PATRONI_RESTAPI_USERNAME",
                    "PATRONI_REWIND_PASSWORD",
                    "PATRONI_SUPERUSER_PASSWORD",
                    "STREAMING_BARMAN_PASSWORD",
                    "TLS_KEY_B64",
                ],
            );
            assert.deepEqual((c.inputs.command as string[]).slice(0, 2), ["secret-env", "tls-key"], "secret-env runs first");
        }
    });

    it("etcd members: client port not published, TLS with client certificates, initial cluster of every member", () => {
        for (let n = 1; n <= 3; n++) {
            const c = container(run, `dev-etcd${n}`);
            assert.deepEqual(c.inputs.ports, [], "etcd's client port is not published by default");
            const cmd = c.inputs.command as string[];
            assert.ok(
                cmd.includes("--initial-cluster=etcd1=https://10.77.1.11:2380,etcd2=https://10.77.1.12:2380,etcd3=https://10.77.1.13:2380"),
            );
            assert.ok(cmd.includes("--client-cert-auth") && cmd.includes("--peer-client-cert-auth"));
            assert.equal(
                upload(c, "/etc/patroni-ha/tls/cert.pem"),
                `-----BEGIN CERTIFICATE-----\ncluster-ca-etcd${n}-cert\n-----END CERTIFICATE-----\n`,
            );
            assert.equal(
                upload(c, "/etc/patroni-ha/tls/ca.pem"),
                "-----BEGIN CERTIFICATE-----\ncluster-ca-cert\n-----END CERTIFICATE-----\n",
            );
            assert.equal(c.inputs.envs, undefined, "no environment: the key is in the secret file");
            assert.ok(secretFileOf(c)?.secret, "the secret file's content is secret");
            assert.deepEqual((cmd as string[]).slice(0, 3), ["secret-env", "tls-key", "etcd"]);
            assert.equal(
                Buffer.from(settingsOf(c).TLS_KEY_B64, "base64").toString(),
                `-----BEGIN EC PRIVATE KEY-----\nsecret-cluster-ca-etcd${n}-key\n-----END EC PRIVATE KEY-----\n`,
            );
            assert.deepEqual(c.inputs.tmpfs, { "/run/patroni-ha-tls": "rw,nosuid,nodev,noexec,size=1m" });
            assert.match((c.inputs.healthcheck as { tests: string[] }).tests[1], /http:\/\/127\.0\.0\.1:2381\/health/);
            assert.deepEqual(c.inputs.volumes, [{ volumeName: `dev-etcd${n}-data`, containerPath: "/var/lib/etcd" }]);
        }
    });

    it("HAProxy: write/read/stats ports, the stats user in its environment, the password and the stats page's key in its secret file", () => {
        const c = container(run, "dev-haproxy");
        assert.deepEqual(
            (c.inputs.ports as { external: number }[]).map(p => p.external),
            [5551, 5552, 5553],
        );
        assert.deepEqual(envOf(c), { STATS_USER: "admin" });
        const { TLS_KEY_B64: key, ...settings } = settingsOf(c);
        assert.deepEqual(settings, { STATS_USER: "admin", STATS_PASSWORD: "pw-cluster-stats-password" });
        assert.match(Buffer.from(key, "base64").toString(), /cluster-ca-haproxy-key/);
        assert.ok(secretFileOf(c)?.secret);
        assert.deepEqual(c.inputs.command, ["secret-env", "tls-key", "haproxy-start", "/var/lib/haproxy-ha/haproxy.cfg"]);
        // haproxy.cfg is no input of the container: the stack writes it into the running container.
        assert.ok(!(unwrap(c.inputs.uploads) as { file: string }[]).some(u => u.file.endsWith("haproxy.cfg")));
        const cfg = haproxyCfg(run);
        assert.match(cfg, /bind \*:8404 ssl crt \/run\/patroni-ha-tls\/stats\.pem/);
        // A reload keeps every server's state (no replica UP in the write pool before its first check).
        assert.match(cfg, /^\s+server-state-file \/var\/lib\/haproxy-ha\/server-state$/m);
        assert.match(cfg, /^\s+load-server-state-from-file global$/m);
        const file = byType(run, DYNAMIC).find(r => r.name === "cluster-haproxy-config")!;
        assert.equal(file.inputs.container, "dev-haproxy");
        assert.deepEqual(Object.keys(c.inputs.tmpfs as object), ["/run/patroni-ha-tls"]);
        assert.equal((c.inputs.networksAdvanced as { ipv4Address: string }[])[0].ipv4Address, "10.78.1.2");
    });

    it("Barman: three volumes, global and server configs, its metrics published", () => {
        const c = container(run, "dev-barman");
        assert.deepEqual(
            (c.inputs.volumes as { volumeName: string; containerPath: string }[]).map(v => `${v.volumeName}:${v.containerPath}`),
            ["dev-barman-home:/var/lib/barman", "dev-barman-backups:/data/pg-backup", "dev-wal:/var/lib/barman-wal"],
        );
        assert.match(upload(c, "/etc/barman.conf"), /retention_policy = RECOVERY WINDOW OF 1 DAYS/);
        // Its passwords in the secret file (the entrypoint writes .pgpass from them), none in the environment.
        assert.ok(secretFileOf(c)?.secret);
        assert.equal(settingsOf(c).BARMAN_PASSWORD, "pw-cluster-barman-password");
        assert.equal(settingsOf(c).STREAMING_BARMAN_PASSWORD, "pw-cluster-streaming-barman-password");
        assert.deepEqual(Object.keys(envOf(c)).sort(), ["BACKUP_SCHEDULE", "BARMAN_SERVER", "METRICS_PORT", "RESTORE_DRILL_SCHEDULE"]);
        assert.match(upload(c, "/etc/barman.d/cluster.conf"), /host=10\.78\.1\.2 port=5431/);
        assert.deepEqual(c.inputs.ports, [{ internal: 9780, external: 9780, ip: "127.0.0.1" }]);
    });

    it("Barman: barman.backupDir puts the backups on that host directory, with no backups volume", async () => {
        const other = await runProgram({ subnet: "10.77.1.0/24", barman: { backupDir: "/mnt/pg-backups/dev" } }, "dev");
        const c = container(other, "dev-barman");
        assert.deepEqual(
            (c.inputs.volumes as { volumeName?: string; hostPath?: string; containerPath: string }[]).map(
                v => `${v.volumeName ?? v.hostPath}:${v.containerPath}`,
            ),
            ["dev-barman-home:/var/lib/barman", "/mnt/pg-backups/dev:/data/pg-backup", "dev-wal:/var/lib/barman-wal"],
        );
        const volumes = byType(other, VOLUME).map(v => unwrap(v.inputs.name));
        assert.ok(!volumes.includes("dev-barman-backups"), `volumes: ${volumes}`);
        assert.ok(volumes.includes("dev-barman-home"));
    });

    it("every container drops all Linux capabilities and forbids privilege escalation", () => {
        const all = containers(run);
        assert.ok(all.length >= 8, `${all.length} containers`);
        for (const c of all) {
            // The sentinel alone may start its process as its own user (setpriv); nothing else.
            const caps = unwrap(c.inputs.name) === "dev-sentinel" ? { drops: ["ALL"], adds: ["SETUID", "SETGID"] } : { drops: ["ALL"] };
            assert.deepEqual(c.inputs.capabilities, caps, String(unwrap(c.inputs.name)));
            assert.deepEqual(c.inputs.securityOpts, ["no-new-privileges:true"], String(unwrap(c.inputs.name)));
        }
    });

    it("the failover sentinel: the engine's socket read-only, every member's container, the leader key, metrics on adminBindAddress", () => {
        const c = container(run, "dev-sentinel");
        assert.deepEqual(c.inputs.volumes, [{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock", readOnly: true }]);
        assert.deepEqual(c.inputs.ports, [{ internal: 9781, external: 9781, ip: "127.0.0.1" }]);
        assert.deepEqual(envOf(c), {
            MEMBERS: Array.from({ length: 9 }, (_, i) => `dev-db${i + 1}=db${i + 1}`).join(","),
            STACK: "dev",
            DCS_CLUSTER_PREFIX: "/service/dev/",
            ETCD_ENDPOINTS: "https://10.77.1.11:2379,https://10.77.1.12:2379,https://10.77.1.13:2379",
            DOCKER_API: "/run/sentinel/docker.sock",
            TLS_CA_FILE: "/etc/patroni-ha/tls/ca.pem",
            TLS_CERT_FILE: "/etc/patroni-ha/tls/cert.pem",
            TLS_RUN: "/run/patroni-ha-tls",
        });
        assert.deepEqual(c.inputs.command, ["secret-env", "sentinel-entrypoint"]);
        assert.ok(secretFileOf(c)?.secret);
        assert.equal(
            settingsOf(c).TLS_KEY_B64,
            Buffer.from("-----BEGIN EC PRIVATE KEY-----\nsecret-cluster-ca-sentinel-key\n-----END EC PRIVATE KEY-----\n").toString(
                "base64",
            ),
        );
        assert.equal(
            upload(c, "/etc/patroni-ha/tls/cert.pem"),
            "-----BEGIN CERTIFICATE-----\ncluster-ca-sentinel-cert\n-----END CERTIFICATE-----\n",
        );
        assert.equal((c.inputs.networksAdvanced as { ipv4Address: string }[])[0].ipv4Address, "10.77.1.7");
        assert.equal((run.resolved.metricsUrls.value as Record<string, string>).sentinel, "http://127.0.0.1:9781/metrics");
    });

    it("no sentinel with sentinel: false or the conservative profile (no container, no image, no metrics URL)", async () => {
        for (const config of [{ sentinel: false }, { profile: "conservative" }, { profile: "seed" }]) {
            const off = await runProgram(config, "nosentinel");
            assert.equal(containers(off).filter(c => unwrap(c.inputs.name) === "nosentinel-sentinel").length, 0, JSON.stringify(config));
            assert.equal(byType(off, IMAGE).filter(i => i.name === "cluster-images-sentinel").length, 0);
            assert.equal((off.resolved.metricsUrls.value as Record<string, string>).sentinel, undefined);
        }
        const on = await runProgram({ profile: "conservative", sentinel: true }, "nosentinel");
        assert.equal(containers(on).filter(c => unwrap(c.inputs.name) === "nosentinel-sentinel").length, 1, "explicitly on");
    });

    it("no Prometheus unless enabled (and no volume metrics, which only its alerts read)", () => {
        for (const role of ["prometheus", "volume-metrics"]) {
            assert.equal(containers(run).filter(c => unwrap(c.inputs.name) === `dev-${role}`).length, 0, role);
            assert.equal(byType(run, IMAGE).filter(i => i.name === `cluster-images-${role}`).length, 0, role);
        }
        assert.equal(run.resolved.prometheusUrl.value, undefined);
    });

    it("the PostgreSQL exporter reads the leader through HAProxy as the pg_monitor role, published on ports.metrics", () => {
        const c = container(run, "dev-exporter");
        assert.deepEqual(c.inputs.ports, [{ internal: 9187, external: 9187, ip: "127.0.0.1" }]);
        assert.equal(c.inputs.envs, undefined, "no environment: the connection string is in the secret file");
        assert.ok(secretFileOf(c)?.secret);
        assert.deepEqual(settingsOf(c), {
            DATA_SOURCE_NAME:
                "postgresql://monitor:pw-cluster-monitor-password@10.78.1.2:5431/postgres?sslmode=verify-full&sslrootcert=/etc/patroni-ha/tls/ca.pem&application_name=exporter",
        });
        assert.equal(settingsOf(container(run, "dev-db1")).MONITOR_PASSWORD, "pw-cluster-monitor-password");
    });

    it("images build from images/<role> on the configured base image, never pushed", async () => {
        for (const img of byType(run, IMAGE)) {
            const role = img.name.replace("cluster-images-", "");
            assert.equal(img.inputs.imageName, `patroni-ha-${role}:dev`);
            assert.equal(img.inputs.skipPush, true);
            const build = img.inputs.build as { context: string; args: Record<string, string> };
            assert.match(build.context, /images$/);
            assert.deepEqual(build.args, { BASE_IMAGE: "debian:bookworm-slim", ...layoutBuildArgs(role) });
        }
        const other = await runProgram({ baseImage: "registry.local/debian:12" }, "dev");
        for (const img of byType(other, IMAGE)) {
            assert.equal((img.inputs.build as { args: Record<string, string> }).args.BASE_IMAGE, "registry.local/debian:12");
        }
    });

    it("the DCS configuration resource is seeded before nodes and carries every tunable", () => {
        const dcs = dcsOf(run);
        const config = unwrap(dcs.inputs.config) as Record<string, any>;
        assert.equal(config.ttl, 20);
        assert.equal(config.synchronous_mode, true);
        assert.equal(config.postgresql.parameters.max_connections, 100);
        // Archiving is the stack's: every node carries the command, only the primary runs it.
        assert.equal(config.postgresql.parameters.archive_mode, "always");
        assert.equal(config.postgresql.parameters.archive_command, "/usr/local/bin/archive-wal %p %f");
        assert.deepEqual(config.slots, { barman: { type: "physical" } });
        assert.deepEqual(dcs.inputs.etcdContainers, ["dev-etcd1", "dev-etcd2", "dev-etcd3"]);
        assert.deepEqual(
            (dcs.inputs.members as { name: string }[]).map(m => m.name),
            ["db1", "db2", "db3", "db4"],
        );
        assert.ok(isWrappedSecret(dcs.inputs.apiPassword), "API password stays secret in the dynamic resource");
    });
});

describe("program: the optional Prometheus", () => {
    it("prometheus: true adds its image, container, volume and URL, scraping every part by address", async () => {
        const run = await runProgram({ prometheus: true, subnet: "10.77.2.0/24", serviceSubnet: "10.78.2.0/24", patroniNodes: 2 }, "mon");
        const c = container(run, "mon-prometheus");
        assert.deepEqual(c.inputs.ports, [{ internal: 9090, external: 9090, ip: "127.0.0.1" }]);
        assert.equal(byType(run, IMAGE).filter(i => i.name === "cluster-images-prometheus").length, 1);
        const cfg = yaml.load(upload(c, "/etc/prometheus/prometheus.yml")) as {
            scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; file_sd_configs?: { files: string[] }[] }[];
        };
        // The Patroni members come from a targets file the stack writes into the running container.
        const patroni = cfg.scrape_configs.find(j => j.job_name === "patroni")!;
        assert.deepEqual(patroni.file_sd_configs?.[0].files, ["/var/lib/prometheus/targets/patroni.json"]);
        const file = byType(run, DYNAMIC).find(r => r.name === "cluster-prometheus-patroni-targets")!;
        assert.equal(file.inputs.path, "/var/lib/prometheus/targets/patroni.json");
        assert.equal(file.inputs.container, "mon-prometheus");
        assert.deepEqual(JSON.parse(file.inputs.content as string), [
            { targets: ["10.78.2.21:8001"], labels: { member: "db1" } },
            { targets: ["10.78.2.22:8001"], labels: { member: "db2" } },
        ]);
        const targets = Object.fromEntries(
            cfg.scrape_configs.filter(j => j.static_configs).map(j => [j.job_name, j.static_configs!.flatMap(sc => sc.targets)]),
        );
        assert.deepEqual(targets, {
            haproxy: ["10.78.2.2:8404"],
            postgres: ["10.78.2.4:9187"],
            barman: ["10.78.2.3:9780"],
            etcd: ["10.78.2.11:2381", "10.78.2.12:2381", "10.78.2.13:2381"],
            volumes: ["10.78.2.8:9100"],
        });
        assert.match(upload(c, "/etc/prometheus/rules.yml"), /alert: PatroniNoLeader/);
        assert.equal(run.resolved.prometheusUrl.value, "http://127.0.0.1:9090/");
        assert.equal((cfg as Record<string, unknown>).alerting, undefined, "no Alertmanager without a webhook");
        assert.ok(!containers(run).some(x => x.name.endsWith("alertmanager")));
        assert.equal(byType(run, IMAGE).filter(i => i.name === "cluster-images-alertmanager").length, 0);
    });

    it("with Prometheus, the volume-metrics container reads a probe volume of its own (no data volume mounted) and publishes nothing", async () => {
        const run = await runProgram(
            { prometheus: true, subnet: "10.77.2.0/24", serviceSubnet: "10.78.2.0/24", patroniNodes: 2, etcdNodes: 3 },
            "mon",
        );
        const c = container(run, "mon-volume-metrics");
        assert.equal(c.inputs.image, "sha256:cluster-images-volume-metrics");
        assert.equal(c.inputs.readOnly, true, "read-only root filesystem");
        assert.equal(c.inputs.ports, undefined, "only Prometheus reads it, over the stack network");
        assert.equal((c.inputs.networksAdvanced as { ipv4Address: string }[])[0].ipv4Address, "10.78.2.8");
        assert.deepEqual(unwrap(c.inputs.volumes), [
            { volumeName: "mon-volume-metrics-probe", containerPath: "/volumes/docker", readOnly: true },
        ]);
        const probe = byType(run, "docker:index/volume:Volume").find(v => v.inputs.name === "mon-volume-metrics-probe");
        assert.ok(probe, "the probe volume is the stack's own (kept or not on destroy: cluster.test.ts)");
    });

    it("alertmanager.webhookUrl adds Alertmanager: its image, container and URL, Prometheus sending to it, every alert to the webhook", async () => {
        const hook = "https://hooks.example.com/pg?team=db";
        const run = await runProgram(
            {
                prometheus: true,
                subnet: "10.77.2.0/24",
                serviceSubnet: "10.78.2.0/24",
                patroniNodes: 2,
                alertmanager: { webhookUrl: hook },
            },
            "mon",
        );
        const am = container(run, "mon-alertmanager");
        assert.deepEqual(am.inputs.ports, [{ internal: 9093, external: 9093, ip: "127.0.0.1" }]);
        assert.deepEqual((am.inputs.networksAdvanced as { ipv4Address: string }[])[0].ipv4Address, "10.78.2.6");
        assert.equal(byType(run, IMAGE).filter(i => i.name === "cluster-images-alertmanager").length, 1);
        const amCfg = yaml.load(upload(am, "/etc/prometheus/alertmanager.yml")) as {
            route: { receiver: string; group_wait: string };
            receivers: { name: string; webhook_configs: { url: string; send_resolved: boolean }[] }[];
        };
        assert.equal(amCfg.route.receiver, "webhook");
        assert.deepEqual(amCfg.receivers, [{ name: "webhook", webhook_configs: [{ url: hook, send_resolved: true }] }]);
        const prom = yaml.load(upload(container(run, "mon-prometheus"), "/etc/prometheus/prometheus.yml")) as {
            alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
        };
        assert.deepEqual(prom.alerting.alertmanagers, [{ static_configs: [{ targets: ["10.78.2.6:9093"] }] }]);
        assert.equal(run.resolved.alertmanagerUrl.value, "http://127.0.0.1:9093/");
    });

    it("its port joins the published-port clash check only when enabled", async () => {
        await assert.rejects(
            runProgram({ prometheus: true, ports: { prometheus: 5551 } }, "mon"),
            /ports\.prometheus: host port 5551 is also used by ports\.write/,
        );
        await runProgram({ prometheus: false, ports: { prometheus: 5551 } }, "mon");
    });
});

describe("program: secrets", () => {
    it("every password is secret in container inputs and outputs, and no plain output holds one", async () => {
        const run = await runProgram({}, "sec");
        for (const c of containers(run)) {
            // Every environment holding a password is secret (the sentinel's holds none and stays readable).
            if (c.inputs.envs !== undefined && JSON.stringify(unwrap(c.inputs.envs)).includes("pw-")) {
                assert.ok(isWrappedSecret(c.inputs.envs), `${unwrap(c.inputs.name)} envs not secret`);
            }
            for (const u of (unwrap(c.inputs.uploads) as { file: string; content: string }[] | undefined) ?? []) {
                if (u.file === SECRET_ENV) {
                    assert.ok(secretFileOf(c)?.secret, `${unwrap(c.inputs.name)}: the secret file is secret`);
                } else {
                    assert.doesNotMatch(u.content, /pw-/, `${unwrap(c.inputs.name)} upload holds a password`);
                }
            }
        }
        for (const key of [
            "statsPassword",
            "patroniApiPassword",
            "superuserPassword",
            "writeConnectionString",
            "readConnectionString",
            "superuserConnectionString",
        ]) {
            assert.equal(run.resolved[key].secret, true, `${key} must be secret`);
        }
        for (const [key, { value, secret }] of Object.entries(run.resolved)) {
            if (!secret) {
                assert.doesNotMatch(JSON.stringify(value) ?? "", /pw-/, `plain output ${key} holds a password`);
            }
        }
    });

    it("no container's environment holds a password, a key or a connection string, with every part on (rsync, Prometheus, Alertmanager)", async () => {
        const run = await runProgram(
            { prometheus: true, alertmanager: { webhookUrl: "http://192.0.2.1/hook" }, barman: { mode: "rsync" }, patroniNodes: 2 },
            "all",
        );
        const names = containers(run).map(c => unwrap(c.inputs.name) as string);
        assert.equal(names.length, 12, names.join(", "));
        for (const c of containers(run)) {
            const name = unwrap(c.inputs.name) as string;
            const env = c.inputs.envs === undefined ? [] : (unwrap(c.inputs.envs) as string[]);
            assert.deepEqual(
                env.filter(e => /PASSWORD=|KEY_B64=|KEY=|DATA_SOURCE_NAME=|pw-|secret-|PRIVATE KEY/.test(e)),
                [],
                `${name}: a secret in its environment (docker inspect shows it)`,
            );
            // What is secret comes in the secret file, exported by secret-env before the container's program
            // (the exporter's image CMD starts with it: images/exporter/Dockerfile).
            if (secretFileOf(c)) {
                assert.ok(secretFileOf(c)!.secret, name);
                const command = c.inputs.command as string[] | undefined;
                assert.ok(command === undefined || command[0] === "secret-env", `${name} starts through secret-env: ${command?.join(" ")}`);
            }
        }
        const withSecrets = containers(run)
            .filter(c => secretFileOf(c))
            .map(c => unwrap(c.inputs.name) as string)
            .sort();
        assert.deepEqual(withSecrets, [
            "all-barman",
            "all-db1",
            "all-db2",
            "all-etcd1",
            "all-etcd2",
            "all-etcd3",
            "all-exporter",
            "all-haproxy",
            "all-sentinel",
        ]);
    });
});

describe("program: the stack's certificate authority", () => {
    let run: Awaited<ReturnType<typeof runProgram>>;
    before(async () => {
        run = await runProgram({ subnet: "10.77.3.0/24", serviceSubnet: "10.78.3.0/24", patroniNodes: 2, tls: { validityDays: 90 } }, "ca");
    });
    const csr = (name: string) => byType(run, "tls:index/certRequest:CertRequest").find(r => r.name === name)!.inputs;
    const cert = (name: string) => byType(run, "tls:index/locallySignedCert:LocallySignedCert").find(r => r.name === name)!.inputs;

    it("one ECDSA P-256 CA per stack, valid tls.validityDays, signing only", () => {
        const ca = byType(run, "tls:index/selfSignedCert:SelfSignedCert");
        assert.equal(ca.length, 1);
        assert.equal(ca[0].inputs.isCaCertificate, true);
        assert.equal(ca[0].inputs.validityPeriodHours, 90 * 24);
        assert.equal(ca[0].inputs.earlyRenewalHours, 30 * 24, "due for renewal 30 days before the end");
        assert.deepEqual(ca[0].inputs.allowedUses, ["cert_signing", "crl_signing", "digital_signature"]);
        assert.deepEqual((ca[0].inputs.subject as { commonName: string }).commonName, "ca CA");
        for (const k of byType(run, "tls:index/privateKey:PrivateKey").filter(k => k.name.startsWith("cluster-ca"))) {
            assert.deepEqual([k.inputs.algorithm, k.inputs.ecdsaCurve], ["ECDSA", "P256"], k.name);
        }
    });

    it("a node's certificate names the write and read ports' address and the admin address when they are not loopback", async () => {
        const exposed = await runProgram(
            {
                subnet: "10.77.4.0/24",
                serviceSubnet: "10.78.4.0/24",
                patroniNodes: 1,
                etcdNodes: 1,
                bindAddress: "192.0.2.10",
                adminBindAddress: "192.0.2.11",
            },
            "exposed",
        );
        const db1 = byType(exposed, "tls:index/certRequest:CertRequest").find(r => r.name === "cluster-ca-db1-csr")!.inputs;
        assert.deepEqual(db1.ipAddresses, ["10.77.4.21", "127.0.0.1", "10.78.4.21", "192.0.2.11", "192.0.2.10", "10.78.4.2"]);
    });

    it("a short validity is due for renewal at half of it", async () => {
        const short = await runProgram({ patroniNodes: 1, etcdNodes: 1, tls: { validityDays: 10 } }, "short");
        for (const c of [
            ...byType(short, "tls:index/selfSignedCert:SelfSignedCert"),
            ...byType(short, "tls:index/locallySignedCert:LocallySignedCert"),
        ]) {
            assert.deepEqual([c.inputs.validityPeriodHours, c.inputs.earlyRenewalHours], [240, 120], c.name);
        }
    });

    it("every certificate names what its clients dial, with the usages its peer checks", () => {
        assert.deepEqual(csr("cluster-ca-etcd2-csr").dnsNames, ["etcd2", "ca-etcd2", "localhost"]);
        assert.deepEqual(csr("cluster-ca-etcd2-csr").ipAddresses, ["10.77.3.12", "127.0.0.1"], "not published: no host address");
        assert.deepEqual(cert("cluster-ca-etcd2-cert").allowedUses, [
            "digital_signature",
            "key_encipherment",
            "server_auth",
            "client_auth",
        ]);
        assert.deepEqual(csr("cluster-ca-db1-csr").dnsNames, ["db1", "ca-db1", "localhost"]);
        // A node: also HAProxy's address (Barman and the exporter dial PostgreSQL through it; TLS passes through).
        assert.deepEqual(csr("cluster-ca-db1-csr").ipAddresses, ["10.77.3.21", "127.0.0.1", "10.78.3.21", "10.78.3.2"]);
        assert.deepEqual(cert("cluster-ca-db1-cert").allowedUses, ["digital_signature", "key_encipherment", "server_auth", "client_auth"]);
        assert.deepEqual(cert("cluster-ca-sentinel-cert").allowedUses, ["digital_signature", "key_encipherment", "client_auth"]);
        // HAProxy's stats page: server only, for its container, its address and the admin address.
        assert.deepEqual(cert("cluster-ca-haproxy-cert").allowedUses, ["digital_signature", "key_encipherment", "server_auth"]);
        assert.deepEqual(csr("cluster-ca-haproxy-csr").dnsNames, ["haproxy", "ca-haproxy", "localhost"]);
        assert.deepEqual(csr("cluster-ca-haproxy-csr").ipAddresses, ["10.78.3.2", "127.0.0.1"]);
        for (const c of byType(run, "tls:index/locallySignedCert:LocallySignedCert")) {
            assert.equal(c.inputs.validityPeriodHours, 90 * 24, c.name);
            assert.equal(c.inputs.earlyRenewalHours, 30 * 24, c.name);
            assert.equal(c.inputs.caCertPem, "-----BEGIN CERTIFICATE-----\ncluster-ca-cert\n-----END CERTIFICATE-----\n", c.name);
        }
        assert.deepEqual(
            byType(run, "tls:index/locallySignedCert:LocallySignedCert")
                .map(c => c.name)
                .sort(),
            [
                "cluster-ca-db1-cert",
                "cluster-ca-db2-cert",
                "cluster-ca-etcd1-cert",
                "cluster-ca-etcd2-cert",
                "cluster-ca-etcd3-cert",
                "cluster-ca-haproxy-cert",
                "cluster-ca-sentinel-cert",
            ],
        );
    });

    it("no private key in an upload, a plain variable or a plain output; the CA certificate is a plain output", () => {
        for (const c of containers(run)) {
            for (const u of (unwrap(c.inputs.uploads) as { file: string; content: string }[] | undefined) ?? []) {
                if (u.file === SECRET_ENV) {
                    assert.ok(secretFileOf(c)?.secret, `${unwrap(c.inputs.name)}: the secret file's content is secret`);
                    continue;
                }
                assert.doesNotMatch(u.content, /PRIVATE KEY|secret-/, `${unwrap(c.inputs.name)} upload`);
            }
            // No secret in any container's environment (`docker inspect` shows it): keys and passwords are
            // in the secret file.
            const env = c.inputs.envs === undefined ? [] : (unwrap(c.inputs.envs) as string[]);
            assert.deepEqual(
                env.filter(e => /KEY_B64=|PASSWORD=|DATA_SOURCE_NAME=|secret-|pw-/.test(e)),
                [],
                `${unwrap(c.inputs.name)} environment`,
            );
            assert.ok(!isWrappedSecret(c.inputs.envs), `${unwrap(c.inputs.name)}: an environment that needs to be secret`);
        }
        for (const [key, { value, secret }] of Object.entries(run.resolved)) {
            if (!secret) {
                assert.doesNotMatch(JSON.stringify(value) ?? "", /PRIVATE KEY|secret-/, `plain output ${key}`);
            }
        }
        assert.equal(run.resolved.caCertificate.secret, false);
    });
});

describe("program: barman.mode rsync (the seed's SSH design)", () => {
    let run: Awaited<ReturnType<typeof runProgram>>;
    before(async () => {
        run = await runProgram({ subnet: "10.77.2.0/24", serviceSubnet: "10.78.2.0/24", patroniNodes: 2, barman: { mode: "rsync" } }, "rs");
    });
    const KEYS = ["node-host-key", "barman-host-key", "archive-key", "backup-key"];

    it("four ED25519 keys per stack, no shared WAL volume, no Barman slot, the rsync archive_command", () => {
        const keys = byType(run, "tls:index/privateKey:PrivateKey").filter(k => k.name.includes("-ssh-"));
        assert.deepEqual(keys.map(k => k.name).sort(), KEYS.map(k => `cluster-barman-ssh-${k}`).sort());
        for (const k of keys) {
            assert.equal(k.inputs.algorithm, "ED25519");
        }
        assert.ok(!byType(run, VOLUME).some(v => unwrap(v.inputs.name) === "rs-wal"), "no rs-wal volume in rsync mode");
        for (const c of containers(run)) {
            assert.ok(
                !((c.inputs.volumes as { containerPath: string }[]) ?? []).some(v => v.containerPath === "/var/lib/barman-wal"),
                String(unwrap(c.inputs.name)),
            );
        }
        const dcs = unwrap(dcsOf(run).inputs.config) as Record<string, any>;
        assert.equal(dcs.postgresql.parameters.archive_command, "/usr/local/bin/archive-wal-rsync %p %f");
        assert.deepEqual(dcs.slots, {});
    });

    it("private keys reach containers only as secret env, never in an upload or output; each side trusts only the other's key", () => {
        const db = container(run, "rs-db1"),
            barman = container(run, "rs-barman");
        for (const c of [db, barman, container(run, "rs-db2")]) {
            assert.ok(secretFileOf(c)?.secret, "keys in the secret file");
            assert.doesNotMatch(JSON.stringify(unwrap(c.inputs.envs) ?? []), /KEY_B64|PASSWORD/, "none in the environment");
            const env = settingsOf(c);
            for (const v of ["SSH_HOST_KEY_B64", "SSH_CLIENT_KEY_B64"]) {
                assert.match(Buffer.from(env[v], "base64").toString(), /^-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-/, v);
            }
            for (const u of unwrap(c.inputs.uploads) as { file: string; content: string }[]) {
                assert.ok(u.file === SECRET_ENV || !/PRIVATE KEY|secret-/.test(u.content), u.file);
            }
        }
        const key = (c: typeof db, v: string) => Buffer.from(settingsOf(c)[v], "base64").toString();
        assert.match(key(db, "SSH_HOST_KEY_B64"), /secret-cluster-barman-ssh-node-host-key/);
        assert.match(key(db, "SSH_CLIENT_KEY_B64"), /secret-cluster-barman-ssh-archive-key/);
        assert.match(key(barman, "SSH_HOST_KEY_B64"), /secret-cluster-barman-ssh-barman-host-key/);
        assert.match(key(barman, "SSH_CLIENT_KEY_B64"), /secret-cluster-barman-ssh-backup-key/);
        assert.equal(
            upload(db, "/etc/ssh-ha/authorized_keys"),
            'command="/usr/local/bin/barman-backup-gate",restrict ssh-ed25519 PUB-cluster-barman-ssh-backup-key barman-backup@rs\n',
        );
        assert.equal(
            upload(barman, "/etc/ssh-ha/authorized_keys"),
            'command="/usr/bin/rrsync -wo /data/pg-backup/cluster/incoming",restrict ssh-ed25519 PUB-cluster-barman-ssh-archive-key wal-archive@rs\n',
        );
        assert.equal(upload(db, "/etc/ssh-ha/known_hosts"), "[10.78.2.3]:2222 ssh-ed25519 PUB-cluster-barman-ssh-barman-host-key\n");
        assert.equal(upload(barman, "/etc/ssh-ha/known_hosts"), "[10.78.2.2]:2222 ssh-ed25519 PUB-cluster-barman-ssh-node-host-key\n");
        assert.match(upload(db, "/etc/ssh-ha/ssh_config"), /Host barman\n\s+HostName 10\.78\.2\.3\n\s+Port 2222\n\s+User barman\n/);
        assert.match(upload(barman, "/etc/ssh-ha/ssh_config"), /Host leader\n\s+HostName 10\.78\.2\.2\n\s+Port 2222\n\s+User postgres\n/);
        assert.match(upload(db, "/etc/ssh-ha/sshd_config"), /^AllowUsers postgres$/m);
        assert.match(upload(barman, "/etc/ssh-ha/sshd_config"), /^AllowUsers barman$/m);
        for (const [key, { value, secret }] of Object.entries(run.resolved)) {
            if (!secret) {
                assert.doesNotMatch(JSON.stringify(value) ?? "", /PRIVATE KEY|secret-/, `plain output ${key}`);
            }
        }
    });

    it("Barman backs up with rsync through HAProxy's SSH route to the leader; HAProxy does not publish it", () => {
        const barman = container(run, "rs-barman");
        const server = upload(barman, "/etc/barman.d/cluster.conf");
        assert.match(server, /^backup_method = rsync$/m);
        assert.match(server, /^ssh_command = ssh -F \/etc\/ssh-ha\/ssh_config leader$/m);
        assert.match(server, /^streaming_archiver = off$/m);
        assert.match(server, /^archiver = on$/m);
        assert.doesNotMatch(server, /slot_name|incoming_wals_directory/);
        const haproxy = container(run, "rs-haproxy");
        const cfg = haproxyCfg(run);
        assert.match(cfg, /frontend ssh_leader\n\s+bind \*:2222\n\s+default_backend ssh_primary/);
        assert.match(cfg, /backend ssh_primary\n\s+balance first\n\s+option httpchk OPTIONS \/primary/);
        assert.match(
            cfg,
            /server db1 10\.78\.2\.21:2222 check port 8001 check-ssl .*\n\s+server db2 10\.78\.2\.22:2222 check port 8001 check-ssl /,
        );
        assert.ok(!(haproxy.inputs.ports as { internal: number }[]).some(p => p.internal === 2222));
    });

    it("streaming mode (the default) has none of it", async () => {
        const plain = await runProgram({ patroniNodes: 2 }, "st");
        assert.equal(byType(plain, "tls:index/privateKey:PrivateKey").filter(k => k.name.includes("-ssh-")).length, 0);
        assert.doesNotMatch(haproxyCfg(plain), /2222/);
        for (const c of containers(plain)) {
            assert.ok(!("SSH_HOST_KEY_B64" in settingsOf(c)));
        }
    });
});

/** Host ports by the address they bind to, sorted. */
function publishedOn(run: Awaited<ReturnType<typeof runProgram>>): Record<string, number[]> {
    const by: Record<string, number[]> = {};
    for (const c of containers(run)) {
        for (const p of (c.inputs.ports as { ip: string; external: number }[] | undefined) ?? []) {
            (by[p.ip] ??= []).push(p.external);
        }
    }
    return Object.fromEntries(Object.entries(by).map(([ip, ports]) => [ip, ports.sort((a, b) => a - b)]));
}

/** The default 4-node, 3-etcd stack's admin ports, with HAProxy's stats port as given. */
const adminPorts = (stats: number) => [stats, 8001, 8002, 8003, 8004, 9187, 9780, 9781, 15431, 15432, 15433, 15434].sort((a, b) => a - b);

describe("program: outputs", () => {
    it("names and values of the public outputs", async () => {
        const run = await runProgram(
            { bindAddress: "0.0.0.0", ports: { write: 6001, read: 6002, stats: 6003 }, app: { database: "shop", user: "web" } },
            "out",
        );
        const v = (k: string) => run.resolved[k].value;
        assert.equal(v("writeEndpoint"), "127.0.0.1:6001");
        assert.equal(v("readEndpoint"), "127.0.0.1:6002");
        assert.equal(v("statsUrl"), "https://127.0.0.1:6003/");
        assert.equal(v("statsUser"), "admin");
        assert.deepEqual(v("patroniApiUrls"), [
            "https://127.0.0.1:8001",
            "https://127.0.0.1:8002",
            "https://127.0.0.1:8003",
            "https://127.0.0.1:8004",
        ]);
        assert.equal(v("patroniApiUser"), "patroni");
        assert.deepEqual(
            v("patroniMembers"),
            [1, 2, 3, 4].map(n => ({
                name: `db${n}`,
                apiUrl: `https://127.0.0.1:${8000 + n}`,
                postgresEndpoint: `127.0.0.1:${15430 + n}`,
            })),
        );
        assert.equal(v("etcdEndpoints"), undefined, "etcd is not published by default");
        assert.deepEqual(v("etcdContainers"), ["out-etcd1", "out-etcd2", "out-etcd3"]);
        assert.equal(v("caCertificate"), "-----BEGIN CERTIFICATE-----\ncluster-ca-cert\n-----END CERTIFICATE-----\n");
        assert.equal(v("caCertificateFile"), "out-ca.pem");
        const tls = "sslmode=verify-full&sslrootcert=out-ca.pem";
        assert.equal(v("writeConnectionString"), `postgresql://web:pw-cluster-app-password@127.0.0.1:6001/shop?${tls}`);
        assert.equal(v("readConnectionString"), `postgresql://web:pw-cluster-app-password@127.0.0.1:6002/shop?${tls}`);
        assert.equal(v("superuserConnectionString"), `postgresql://postgres:pw-cluster-superuser-password@127.0.0.1:6001/postgres?${tls}`);
        assert.equal(v("barmanContainer"), "out-barman");
        assert.equal(v("pitrEndpoint"), "127.0.0.1:5554");
        assert.deepEqual(v("metricsUrls"), {
            patroni: [
                "https://127.0.0.1:8001/metrics",
                "https://127.0.0.1:8002/metrics",
                "https://127.0.0.1:8003/metrics",
                "https://127.0.0.1:8004/metrics",
            ],
            haproxy: "https://127.0.0.1:6003/metrics",
            postgres: "http://127.0.0.1:9187/metrics",
            barman: "http://127.0.0.1:9780/metrics",
            sentinel: "http://127.0.0.1:9781/metrics",
        });
        assert.deepEqual(Object.keys(run.resolved).sort(), [
            "alertmanagerUrl",
            "barmanContainer",
            "caCertificate",
            "caCertificateFile",
            "etcdContainers",
            "etcdEndpoints",
            "metricsUrls",
            "patroniApiPassword",
            "patroniApiUrls",
            "patroniApiUser",
            "patroniMembers",
            "pitrEndpoint",
            "prometheusUrl",
            "readConnectionString",
            "readEndpoint",
            "statsPassword",
            "statsUrl",
            "statsUser",
            "superuserConnectionString",
            "superuserPassword",
            "writeConnectionString",
            "writeEndpoint",
        ]);
        // bindAddress opens only the write and read ports; every other port stays on adminBindAddress (loopback).
        assert.deepEqual(publishedOn(run), { "0.0.0.0": [6001, 6002], "127.0.0.1": adminPorts(6003) });
    });

    it("adminBindAddress: every port but write and read binds there, and the outputs reach each part on its own address", async () => {
        const run = await runProgram({ bindAddress: "192.0.2.10", adminBindAddress: "127.0.0.2", ports: { publishEtcd: true } }, "split");
        assert.deepEqual(publishedOn(run), {
            "192.0.2.10": [5551, 5552],
            "127.0.0.2": [...adminPorts(5553), 23791, 23792, 23793],
        });
        const v = (k: string) => run.resolved[k].value;
        assert.equal(v("writeEndpoint"), "192.0.2.10:5551");
        assert.equal(v("readEndpoint"), "192.0.2.10:5552");
        assert.match(String(v("superuserConnectionString")), /@192\.0\.2\.10:5551\//);
        assert.equal(v("statsUrl"), "https://127.0.0.2:5553/");
        assert.equal(v("pitrEndpoint"), "127.0.0.2:5554");
        assert.deepEqual(
            v("etcdEndpoints"),
            [1, 2, 3].map(n => `https://127.0.0.2:${23790 + n}`),
        );
        const etcd1 = byType(run, "tls:index/certRequest:CertRequest").find(r => r.name === "cluster-ca-etcd1-csr")!;
        assert.deepEqual(
            (etcd1.inputs.ipAddresses as string[]).slice(1),
            ["127.0.0.1", "127.0.0.2"],
            "the published address is in etcd's certificate",
        );
        for (const m of v("patroniMembers") as { apiUrl: string; postgresEndpoint: string }[]) {
            assert.match(m.apiUrl, /^https:\/\/127\.0\.0\.2:800\d$/);
            assert.match(m.postgresEndpoint, /^127\.0\.0\.2:1543\d$/);
        }
        for (const url of [...Object.values(v("metricsUrls") as Record<string, string | string[]>).flat()]) {
            assert.match(url, /^https?:\/\/127\.0\.0\.2:/);
        }
    });

    it("superuserAccess: false drops superuserConnectionString (and pg_hba rejects the superuser over TCP)", async () => {
        const run = await runProgram({ superuserAccess: false }, "closed");
        assert.equal(run.resolved.superuserConnectionString?.value, undefined);
        assert.ok(run.resolved.writeConnectionString.value, "the application's strings stay");
        const hba = (unwrap(dcsOf(run).inputs.config) as { postgresql: { pg_hba: string[] } }).postgresql.pg_hba;
        assert.deepEqual(
            hba.filter(l => / postgres /.test(l)),
            ["host all postgres all reject"],
        );
    });

    it("tls: false: the connection strings drop sslmode and the CA file; pg_hba admits the client roles without TLS", async () => {
        const run = await runProgram({ tls: false }, "plain");
        for (const key of ["writeConnectionString", "readConnectionString", "superuserConnectionString"]) {
            const url = new URL(run.resolved[key].value as string);
            assert.ok(run.resolved[key].secret, key);
            assert.deepEqual([...url.searchParams.keys()], [], `${key}: ${url.search}`);
        }
        const hba = (unwrap(dcsOf(run).inputs.config) as { postgresql: { pg_hba: string[] } }).postgresql.pg_hba;
        assert.equal(hba.at(-1), "host all all all scram-sha-256");
        assert.ok(!hba.includes("hostnossl all all all reject"));
        assert.ok(run.resolved.caCertificate.value, "the CA stays: the stack's own hops verify with it");
        const tls = await runProgram({}, "dev");
        assert.equal(new URL(tls.resolved.writeConnectionString.value as string).searchParams.get("sslmode"), "verify-full");
    });

    it("an invalid config declares nothing and names the key", async () => {
        await assert.rejects(
            runProgram({ patroniNodes: 0, ports: { wirte: 1 } }, "bad"),
            (e: Error) => /patroniNodes/.test(e.message) && /ports\.wirte/.test(e.message),
        );
    });
});

describe("program: the second `pulumi up`", () => {
    const containerInputs = (run: Awaited<ReturnType<typeof runProgram>>) =>
        Object.fromEntries(containers(run).map(c => [unwrap(c.inputs.name) as string, JSON.stringify(unwrap(c.inputs))]));

    for (const [what, a, b] of [
        ["a PostgreSQL parameter", { patroni: { postgresql: { work_mem: "4MB" } } }, { patroni: { postgresql: { work_mem: "64MB" } } }],
        ["a restart-only PostgreSQL parameter", {}, { patroni: { postgresql: { max_connections: 200 } } }],
        ["ttl", { patroni: { ttl: 30 } }, { patroni: { ttl: 40 } }],
        ["synchronousMode", {}, { patroni: { synchronousMode: "off" } }],
        ["tls.enabled", {}, { tls: false }],
    ] as const) {
        it(`changing ${what} changes no container's inputs, only the DCS configuration`, async () => {
            const before = await runProgram(a, "dev");
            const after = await runProgram(b, "dev");
            assert.deepEqual(containerInputs(after), containerInputs(before));
            assert.notDeepEqual(unwrap(dcsOf(after).inputs.config), unwrap(dcsOf(before).inputs.config));
            // So the rolling replacement has nothing to do either.
            assert.deepEqual(fingerprintsOf(after), fingerprintsOf(before));
        });
    }

    it("changing HAProxy's timings or the read pool's lag limit changes no container's inputs, only haproxy.cfg (reloaded in place)", async () => {
        const before = await runProgram({}, "dev");
        for (const b of [{ haproxy: { inter: 900, rise: 3 } }, { patroni: { maximumLagOnFailover: 2097152 } }]) {
            const after = await runProgram(b, "dev");
            assert.deepEqual(containerInputs(after), containerInputs(before), JSON.stringify(b));
            assert.notEqual(haproxyCfg(after), haproxyCfg(before), JSON.stringify(b));
        }
    });

    it("changing the profile changes no container's inputs: Patroni's timings go to the DCS, HAProxy's to haproxy.cfg", async () => {
        // sentinel set explicitly: its default follows the profile (on with fast, off with conservative).
        const fast = await runProgram({ profile: "fast", sentinel: true }, "dev");
        const conservative = await runProgram({ profile: "conservative", sentinel: true }, "dev");
        assert.deepEqual(containerInputs(conservative), containerInputs(fast));
        assert.deepEqual(fingerprintsOf(conservative), fingerprintsOf(fast));
        assert.equal((unwrap(dcsOf(conservative).inputs.config) as { ttl: number }).ttl, 30);
        assert.match(haproxyCfg(conservative), /default-server inter 2000 fastinter 1000 downinter 2000 rise 2 fall 3 /);
        assert.match(haproxyCfg(fast), /default-server inter 500 /);
    });

    for (const [what, b] of [
        ["resources.patroni.memoryMb", { resources: { patroni: { memoryMb: 1024 } } }],
        ["app", { app: { database: "shop", user: "shopper" } }],
    ] as const) {
        it(`changing ${what} changes every node's fingerprint: the rollout replaces them one by one`, async () => {
            const before = fingerprintsOf(await runProgram({}, "dev"));
            const after = fingerprintsOf(await runProgram(b, "dev"));
            assert.deepEqual(Object.keys(after), ["db1", "db2", "db3", "db4"]);
            for (const n of Object.keys(after)) {
                assert.match(after[n], /^[0-9a-f]{64}$/);
                assert.notEqual(after[n], before[n], n);
            }
        });
    }

    it("adding or removing a node changes no remaining node's inputs, nor HAProxy's or the sentinel's (they name every slot a node may have)", async () => {
        const four = containerInputs(await runProgram({ patroniNodes: 4 }, "dev"));
        const five = containerInputs(await runProgram({ patroniNodes: 5 }, "dev"));
        const three = containerInputs(await runProgram({ patroniNodes: 3 }, "dev"));
        for (let n = 1; n <= 4; n++) {
            assert.equal(five[`dev-db${n}`], four[`dev-db${n}`], `db${n}`);
        }
        for (let n = 1; n <= 3; n++) {
            assert.equal(three[`dev-db${n}`], four[`dev-db${n}`], `db${n}`);
        }
        for (const part of ["dev-haproxy", "dev-sentinel"]) {
            assert.equal(five[part], four[part], part);
            assert.equal(three[part], four[part], part);
        }
        // With Prometheus: its container and volume-metrics' stay; only the targets file it re-reads changes.
        const withPrometheus = async (patroniNodes: number) => {
            const run = await runProgram({ patroniNodes, prometheus: true }, "dev");
            const file = byType(run, DYNAMIC).find(r => r.name.endsWith("-patroni-targets"))!;
            return { containers: containerInputs(run), targets: JSON.parse(file.inputs.content as string) as unknown[] };
        };
        const [p4, p5, p3] = [await withPrometheus(4), await withPrometheus(5), await withPrometheus(3)];
        for (const part of ["dev-prometheus", "dev-volume-metrics"]) {
            assert.equal(p5.containers[part], p4.containers[part], part);
            assert.equal(p3.containers[part], p4.containers[part], part);
        }
        assert.deepEqual(
            [p3, p4, p5].map(p => p.targets.length),
            [3, 4, 5],
        );
    });

    it("an unchanged config gives byte-identical inputs everywhere", async () => {
        const one = await runProgram({ patroni: { postgresql: { work_mem: "8MB", jit: false } } }, "dev");
        const two = await runProgram({ patroni: { postgresql: { jit: false, work_mem: "8MB" } } }, "dev");
        assert.deepEqual(
            one.resources.map(r => JSON.stringify(unwrap(r.inputs))),
            two.resources.map(r => JSON.stringify(unwrap(r.inputs))),
        );
    });
});
