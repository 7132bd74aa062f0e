// configs/etcd.ts: what it renders, checked field by field.
import { strict as assert } from "assert";
import { parseConfig } from "../../../config";
import { initialCluster, renderEtcdCommand } from "../../../configs/etcd";

const spec = parseConfig({ subnet: "10.9.8.0/24" }, "dev").spec;
const etcdMembers = spec.etcd;

describe("renderers: etcd", () => {
    it("initial cluster lists every member by address, over TLS", () => {
        assert.equal(initialCluster(etcdMembers), "etcd1=https://10.9.8.11:2380,etcd2=https://10.9.8.12:2380,etcd3=https://10.9.8.13:2380");
    });
    it("advertises addresses, never names", () => {
        const cmd = renderEtcdCommand(etcdMembers[1], etcdMembers, "dev-etcd");
        assert.ok(cmd.includes("--name=etcd2"));
        assert.ok(cmd.includes("--advertise-client-urls=https://10.9.8.12:2379"));
        assert.ok(cmd.includes("--initial-advertise-peer-urls=https://10.9.8.12:2380"));
        assert.ok(cmd.includes(`--initial-cluster=${initialCluster(etcdMembers)}`));
        assert.ok(cmd.includes("--initial-cluster-token=dev-etcd"));
    });
    it("clients and peers need a certificate from the stack's CA; only metrics and health are plain", () => {
        const cmd = renderEtcdCommand(etcdMembers[0], etcdMembers, "dev-etcd");
        assert.deepEqual(
            cmd.slice(0, 3),
            ["secret-env", "tls-key", "etcd"],
            "the secret file is read and the key written before etcd starts",
        );
        for (const flag of ["--client-cert-auth", "--peer-client-cert-auth"]) {
            assert.ok(cmd.includes(flag), flag);
        }
        const urls = cmd.filter(a => /^--(listen|advertise|initial-advertise)-.*urls=/.test(a));
        assert.deepEqual(
            urls.filter(a => a.includes("http://")),
            ["--listen-metrics-urls=http://0.0.0.0:2381"],
        );
        for (const f of ["trusted-ca-file", "cert-file", "key-file", "peer-trusted-ca-file", "peer-cert-file", "peer-key-file"]) {
            assert.ok(
                cmd.some(a => a.startsWith(`--${f}=/`)),
                f,
            );
        }
        assert.ok(cmd.includes("--key-file=/run/patroni-ha-tls/key.pem"), "the key is on the tmpfs, not in an upload");
    });
});
