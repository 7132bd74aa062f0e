// configs/yaml.ts and every renderer: deterministic output.
import { strict as assert } from "assert";
import { parseConfig } from "../../../config";
import { bootstrapPgHba, renderDynamicConfig } from "../../../configs/dcs";
import { renderHaproxyCfg } from "../../../configs/haproxy";
import { renderPatroniYml } from "../../../configs/patroni";
import { canonicalJson } from "../../../configs/yaml";

const spec = parseConfig({ subnet: "10.9.8.0/24" }, "dev").spec;
const etcdAddresses = spec.etcd.map(e => e.address);
const servers = spec.members;
const HBA = { haproxy: spec.addresses.haproxy, members: servers.map(m => m.address), superuserAccess: true, clientTls: true };

describe("renderers are deterministic", () => {
    it("the same input gives the same bytes, whatever the key order of the input", () => {
        const a = { ...spec.patroni, postgresql: { work_mem: "8MB", jit: false } };
        const b = { ...spec.patroni, postgresql: { jit: false, work_mem: "8MB" } };
        assert.equal(
            canonicalJson(renderDynamicConfig({ patroni: a, hba: HBA })),
            canonicalJson(renderDynamicConfig({ patroni: b, hba: HBA })),
        );
        const node = {
            scope: "dev",
            name: "db1",
            address: "10.9.8.21",
            etcdAddresses: etcdAddresses,
            pgHba: bootstrapPgHba(spec.subnet),
            apiAllowlist: ["10.9.8.1"],
        };
        assert.equal(renderPatroniYml(node), renderPatroniYml({ ...node }));
        assert.equal(
            renderHaproxyCfg({ servers, maximumLagOnFailover: 5, timings: spec.haproxy }),
            renderHaproxyCfg({ servers: [...servers], maximumLagOnFailover: 5, timings: { ...spec.haproxy } }),
        );
        assert.equal(canonicalJson({ b: 1, a: { d: 1, c: 2 } }), '{"a":{"c":2,"d":1},"b":1}');
    });
});
