// configs/etcd.ts: what it renders, checked field by field.
import { strict as assert } from "assert";
import { parseConfig } from "../../../config";
import { initialCluster, renderEtcdCommand } from "../../../configs/etcd";

const spec = parseConfig({ subnet: "10.9.8.0/24" }, "dev").spec;
const etcdMembers = spec.etcd;

describe("renderers: etcd", () => {
    it("initial cluster lists every member by address", () => {
        assert.equal(initialCluster(etcdMembers), "etcd1=http://10.9.8.11:2380,etcd2=http://10.9.8.12:2380,etcd3=http://10.9.8.13:2380");
    });
    it("advertises addresses, never names", () => {
        const cmd = renderEtcdCommand(etcdMembers[1], etcdMembers, "dev-etcd");
        assert.ok(cmd.includes("--name=etcd2"));
        assert.ok(cmd.includes("--advertise-client-urls=http://10.9.8.12:2379"));
        assert.ok(cmd.includes("--initial-advertise-peer-urls=http://10.9.8.12:2380"));
        assert.ok(cmd.includes(`--initial-cluster=${initialCluster(etcdMembers)}`));
        assert.ok(cmd.includes("--initial-cluster-token=dev-etcd"));
    });
});
