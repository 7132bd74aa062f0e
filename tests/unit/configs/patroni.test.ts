// configs/patroni.ts: what it renders, checked field by field.
import { strict as assert } from "assert";
import * as yaml from "js-yaml";
import { parseConfig } from "../../../config";
import { bootstrapPgHba } from "../../../configs/dcs";
import { renderPatroniYml } from "../../../configs/patroni";

const spec = parseConfig({ subnet: "10.9.8.0/24" }, "dev").spec;
const etcdAddresses = spec.etcd.map(e => e.address);

describe("renderers: patroni.yml", () => {
    const text = renderPatroniYml({
        scope: "dev",
        name: "db2",
        address: "10.9.8.22",
        etcdAddresses: etcdAddresses,
        pgHba: bootstrapPgHba(spec.subnet),
        apiAllowlist: ["10.9.8.1", "127.0.0.1"],
    });
    const doc = yaml.load(text) as Record<string, any>;

    it("names the scope and member, with connect addresses by IP", () => {
        assert.equal(doc.scope, "dev");
        assert.equal(doc.name, "db2");
        assert.equal(doc.namespace, "/service/");
        assert.equal(doc.restapi.connect_address, "10.9.8.22:8001");
        assert.equal(doc.restapi.listen, "0.0.0.0:8001");
        assert.equal(doc.postgresql.connect_address, "10.9.8.22:5431");
        assert.equal(doc.postgresql.listen, "0.0.0.0:5431");
    });

    it("lists every etcd member by address (etcd v3 API), over TLS with the node's certificate", () => {
        assert.deepEqual(doc.etcd3.hosts, ["10.9.8.11:2379", "10.9.8.12:2379", "10.9.8.13:2379"]);
        assert.equal(doc.etcd3.protocol, "https");
        assert.deepEqual(
            [doc.etcd3.cacert, doc.etcd3.cert, doc.etcd3.key],
            ["/etc/patroni-ha/tls/ca.pem", "/etc/patroni-ha/tls/cert.pem", "/run/patroni-ha-tls/key.pem"],
        );
    });

    it("unsafe REST API endpoints only from the addresses given (the renderer adds nothing from the DCS)", () => {
        assert.deepEqual(doc.restapi.allowlist, ["10.9.8.1", "127.0.0.1"]);
        assert.equal(doc.restapi.allowlist_include_members, undefined, "members from the DCS: none during a DCS outage");
    });

    it("names the auth users but holds no password", () => {
        assert.deepEqual(Object.keys(doc.postgresql.authentication).sort(), ["replication", "rewind", "superuser"]);
        assert.equal(doc.postgresql.authentication.superuser.username, "postgres");
        assert.doesNotMatch(text, /password/i);
    });

    it("puts the data directory below the volume and bootstraps with checksums and C.UTF-8", () => {
        assert.equal(doc.postgresql.data_dir, "/var/lib/postgresql/15/data");
        assert.equal(doc.postgresql.bin_dir, "/usr/lib/postgresql/15/bin");
        assert.deepEqual(doc.bootstrap.initdb, [{ encoding: "UTF8" }, { locale: "C.UTF-8" }, "data-checksums"]);
        assert.equal(doc.bootstrap.post_bootstrap, "/usr/local/bin/patroni-post-bootstrap");
    });

    it("carries the pg_hba lines for initdb (Patroni's validator requires them); the DCS copy governs afterwards", () => {
        assert.deepEqual(doc.bootstrap.pg_hba, bootstrapPgHba(spec.subnet));
        assert.equal(doc.postgresql.pg_hba, undefined, "a local postgresql.pg_hba would override the DCS copy");
    });

    it("keeps tunables out of the node file: the same for every tuning", () => {
        // The node file has no input from ClusterSpec.patroni at all, so tuning cannot change it.
        assert.equal(doc.bootstrap.dcs.postgresql.use_slots, true);
        assert.equal(doc.postgresql.parameters.max_connections, undefined);
    });
});
