// PatroniCluster as a reusable component: children named from the component's name (two clusters in one
// program never clash), and aliases that keep every resource of a stack deployed before that rename.
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { PatroniCluster } from "../../../components/cluster";
import { parseConfig } from "../../../config";
import { declareUnderMocks, unwrap } from "../../support/program";

/** Every (type, logical name) the program declared before child names carried the component's name. */
const FORMER = [
    "docker:index/container:Container barman",
    "docker:index/container:Container db1",
    "docker:index/container:Container db2",
    "docker:index/container:Container etcd1",
    "docker:index/container:Container exporter",
    "docker:index/container:Container haproxy",
    "docker:index/container:Container prometheus",
    "docker:index/image:Image images-barman",
    "docker:index/image:Image images-etcd",
    "docker:index/image:Image images-exporter",
    "docker:index/image:Image images-haproxy",
    "docker:index/image:Image images-patroni",
    "docker:index/image:Image images-prometheus",
    "docker:index/network:Network network",
    "docker:index/volume:Volume barman-backups",
    "docker:index/volume:Volume barman-home",
    "docker:index/volume:Volume db1-data",
    "docker:index/volume:Volume db2-data",
    "docker:index/volume:Volume etcd1-data",
    "docker:index/volume:Volume prometheus-data",
    "docker:index/volume:Volume wal",
    "patroni-ha:index:BarmanServer barman",
    "patroni-ha:index:BarmanSsh barman-ssh",
    "patroni-ha:index:EtcdCluster etcd",
    "patroni-ha:index:HaproxyGateway haproxy",
    "patroni-ha:index:MetricsExporter exporter",
    "patroni-ha:index:PatroniNode db1",
    "patroni-ha:index:PatroniNode db2",
    "patroni-ha:index:PrometheusServer prometheus",
    "patroni-ha:index:StackImages images",
    "pulumi-nodejs:dynamic:Resource dcs-config",
    "random:index/randomPassword:RandomPassword app-password",
    "random:index/randomPassword:RandomPassword barman-password",
    "random:index/randomPassword:RandomPassword monitor-password",
    "random:index/randomPassword:RandomPassword patroni-api-password",
    "random:index/randomPassword:RandomPassword replication-password",
    "random:index/randomPassword:RandomPassword rewind-password",
    "random:index/randomPassword:RandomPassword stats-password",
    "random:index/randomPassword:RandomPassword streaming-barman-password",
    "random:index/randomPassword:RandomPassword superuser-password",
    "tls:index/privateKey:PrivateKey archive-key",
    "tls:index/privateKey:PrivateKey backup-key",
    "tls:index/privateKey:PrivateKey barman-host-key",
    "tls:index/privateKey:PrivateKey node-host-key",
];

interface Seen {
    type: string;
    name: string;
    aliases: string[];
    retainOnDelete?: boolean;
}

/** Declare clusters, recording each resource's type, name and alias names (component transformations reach every child). */
async function declare(clusters: { name: string; config: Record<string, unknown> }[]): Promise<Seen[]> {
    const seen: Seen[] = [];
    const record: pulumi.ResourceTransformation = a => {
        const aliases = (a.opts.aliases ?? []).map(x =>
            typeof x === "object" && x !== null && "name" in x ? String((x as pulumi.Alias).name) : String(x),
        );
        seen.push({ type: a.type, name: a.name, aliases, retainOnDelete: a.opts.retainOnDelete });
        return undefined;
    };
    await declareUnderMocks("two", () => {
        for (const c of clusters) {
            new PatroniCluster(c.name, { spec: parseConfig(c.config, c.name).spec }, { transformations: [record] });
        }
    });
    return seen;
}

describe("PatroniCluster: a reusable component", () => {
    it("keeps every resource of a stack deployed with the former child names (an alias each, so upgrading replaces nothing)", async () => {
        const seen = [
            ...(await declare([{ name: "cluster", config: { prometheus: true, patroniNodes: 2, etcdNodes: 1 } }])),
            ...(await declare([{ name: "cluster", config: { barman: { mode: "rsync" }, patroniNodes: 2, etcdNodes: 1 } }])),
        ];
        for (const former of FORMER) {
            const [type, name] = former.split(" ");
            const match = seen.filter(s => s.type === type && (s.name === name || s.aliases.includes(name)));
            assert.equal(match.length > 0, true, `nothing keeps ${former}`);
        }
        assert.ok(
            seen.filter(s => s.type !== "patroni-ha:index:PatroniCluster").every(s => s.name.startsWith("cluster-")),
            "every child name starts with the component's name",
        );
    });

    it("two clusters in one program: no logical name, Docker name or host port clashes", async () => {
        const ports = (base: number) => ({
            write: base + 1,
            read: base + 2,
            stats: base + 3,
            pitr: base + 4,
            metrics: base + 5,
            barmanMetrics: base + 6,
            prometheus: base + 7,
            sentinelMetrics: base + 8,
            postgresBase: base + 10,
            apiBase: base + 20,
            etcdBase: base + 30,
        });
        const resources = await declareUnderMocks("two", () => {
            new PatroniCluster("alpha", { spec: parseConfig({ ports: ports(30000), patroniNodes: 2 }, "alpha").spec });
            new PatroniCluster("beta", { spec: parseConfig({ ports: ports(31000), patroniNodes: 2 }, "beta").spec });
        });
        const keys = resources.map(r => `${r.type} ${r.name}`);
        assert.deepEqual(
            keys.filter((k, i) => keys.indexOf(k) !== i),
            [],
            "duplicate logical names",
        );
        const dockerNames = resources
            .filter(r => r.type.startsWith("docker:") && r.inputs.name !== undefined)
            .map(r => unwrap(r.inputs.name));
        assert.deepEqual(
            dockerNames.filter((k, i) => dockerNames.indexOf(k) !== i),
            [],
            "duplicate Docker names",
        );
        assert.ok(dockerNames.includes("alpha-db1") && dockerNames.includes("beta-db1"));
        const hostPorts = resources
            .filter(r => r.type === "docker:index/container:Container")
            .flatMap(r => ((unwrap(r.inputs.ports) ?? []) as { external: number }[]).map(p => p.external));
        assert.deepEqual(
            hostPorts.filter((p, i) => hostPorts.indexOf(p) !== i),
            [],
            "duplicate host ports",
        );
    });

    it("data volumes are kept on destroy unless retainData is false; nothing else is", async () => {
        const DATA = [
            "cluster-etcd-etcd1-data",
            "cluster-db1-data",
            "cluster-db2-data",
            "cluster-barman-home",
            "cluster-barman-backups",
            "cluster-wal",
        ];
        for (const retainData of [undefined, true, false]) {
            const config = { prometheus: true, patroniNodes: 2, etcdNodes: 1, ...(retainData === undefined ? {} : { retainData }) };
            const seen = await declare([{ name: "cluster", config }]);
            const volumes = seen.filter(s => s.type === "docker:index/volume:Volume");
            assert.deepEqual(volumes.filter(v => DATA.includes(v.name)).length, DATA.length, "every data volume declared");
            for (const v of volumes) {
                const expected = DATA.includes(v.name) && retainData !== false;
                assert.equal(Boolean(v.retainOnDelete), expected, `${v.name} retainOnDelete (retainData ${retainData})`);
            }
            assert.ok(
                seen.filter(s => s.type !== "docker:index/volume:Volume").every(s => !s.retainOnDelete),
                "only volumes are retained",
            );
        }
    });
});
