// configs/haproxy.ts: what it renders, checked field by field.
import { strict as assert } from "assert";
import { parseConfig } from "../../../config";
import { renderHaproxyCfg } from "../../../configs/haproxy";

const spec = parseConfig({ subnet: "10.9.8.0/24" }, "dev").spec;
const servers = spec.members;

describe("renderers: haproxy.cfg", () => {
    const cfg = renderHaproxyCfg({ servers, maximumLagOnFailover: 1048576, timings: spec.haproxy });
    const section = (name: string) => cfg.split("\n\n").find(s => s.startsWith(name)) ?? "";

    it("has one server line per node, by address, checked on the REST port over verified HTTPS", () => {
        for (const backend of ["backend primary", "backend replicas"]) {
            const lines = section(backend)
                .split("\n")
                .filter(l => l.trim().startsWith("server "));
            assert.deepEqual(
                lines.map(l => l.trim()),
                // Checked over HTTPS: the node's certificate from the stack CA, for its own name.
                servers.map(
                    s =>
                        `server ${s.name} ${s.address}:5431 check port 8001 check-ssl verify required ca-file /etc/patroni-ha/tls/ca.pem verifyhost ${s.name}`,
                ),
            );
        }
    });

    it("routes writes to the leader and reads to replicas within the lag limit", () => {
        assert.match(section("backend primary"), /option httpchk OPTIONS \/primary\n/);
        assert.match(section("backend replicas"), /option httpchk OPTIONS \/replica\?lag=1048576\n/);
        assert.match(section("backend replicas"), /balance roundrobin/);
        assert.match(section("frontend write"), /bind \*:5431\n\s+default_backend primary/);
        assert.match(section("frontend read"), /bind \*:5432/);
        assert.match(section("frontend read"), /use_backend primary if \{ nbsrv\(replicas\) eq 0 \}/);
    });

    it("cuts sessions to a server marked down, with the configured timings", () => {
        for (const backend of ["backend primary", "backend replicas"]) {
            assert.match(section(backend), /on-marked-down shutdown-sessions/);
            assert.match(section(backend), /inter 500 fastinter 250 downinter 500 rise 1 fall 2/);
        }
    });

    it("serves an authenticated stats page and Prometheus metrics, credentials from the environment", () => {
        const stats = section("frontend stats");
        assert.match(stats, /bind \*:8404/);
        assert.match(stats, /stats auth "\$\{STATS_USER\}:\$\{STATS_PASSWORD\}"/);
        assert.match(stats, /use-service prometheus-exporter if \{ path \/metrics \}/);
    });
});
