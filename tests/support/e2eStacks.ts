// Every real-engine stack the e2e suites and the benchmarks deploy, in one table: name, subnet, host
// ports and the suite's per-test timeout (a generous liveness bound, never a target). A unit test checks
// that no two share a subnet or a host port, so a new suite picks free ones here.
import { e2ePorts } from "./helpers";

export interface E2eStack {
    stack: string;
    /** Omitted: derived from the stack name (what most users get). */
    subnet?: string;
    /** The service network's; omitted: derived from the stack name. */
    serviceSubnet?: string;
    ports: Record<string, number>;
    /** Mocha's per-test timeout for the suite, ms. */
    timeoutMs: number;
}

export const E2E_STACKS = {
    cluster: {
        stack: "e2e",
        subnet: "10.213.240.0/24",
        serviceSubnet: "10.214.240.0/24",
        // The first suite's ports, from before the blocks: kept so its history reads the same.
        ports: {
            write: 25551,
            read: 25552,
            stats: 25553,
            postgresBase: 25430,
            apiBase: 28000,
            etcdBase: 23890,
            pitr: 25554,
            metrics: 25187,
            barmanMetrics: 25780,
            sentinelMetrics: 25781,
        },
        timeoutMs: 600_000,
    },
    barman: {
        stack: "e2e-barman",
        subnet: "10.213.242.0/24",
        serviceSubnet: "10.214.242.0/24",
        ports: e2ePorts(28, { prometheus: true }),
        timeoutMs: 900_000,
    },
    rsync: { stack: "e2e-rsync", subnet: "10.213.243.0/24", serviceSubnet: "10.214.243.0/24", ports: e2ePorts(27), timeoutMs: 900_000 },
    chaos: { stack: "e2e-chaos", subnet: "10.213.245.0/24", serviceSubnet: "10.214.245.0/24", ports: e2ePorts(29), timeoutMs: 900_000 },
    keep: { stack: "e2e-keep", subnet: "10.213.246.0/24", serviceSubnet: "10.214.246.0/24", ports: e2ePorts(24), timeoutMs: 900_000 },
    blue: { stack: "e2e-blue", ports: e2ePorts(26), timeoutMs: 600_000 },
    green: { stack: "e2e-green", ports: e2ePorts(22), timeoutMs: 600_000 },
    bench: {
        stack: "bench",
        subnet: "10.213.250.0/24",
        serviceSubnet: "10.214.250.0/24",
        ports: e2ePorts(45, { prometheus: true }),
        timeoutMs: 0,
    },
} satisfies Record<string, E2eStack>;

/** The real-tool checks build images only (no stack): their tag and the subnet the rendered configs use. */
export const CONFIG_CHECKS = { tag: "configcheck", subnet: "10.213.244.0/24", timeoutMs: 900_000 };
