import { PatroniSpec, PgValue } from "../config";
import { ROLES } from "./layout";

/** Defaults for PostgreSQL parameters a user may override through `patroni.postgresql`. */
export const DEFAULT_PARAMETERS: Record<string, PgValue> = {
    effective_cache_size: "512MB",
    maintenance_work_mem: "64MB",
    max_connections: 100,
    // A permanent slot with no consumer (Barman down) may hold this much WAL, then PostgreSQL drops it;
    // archiving through the shared volume still has every segment, so nothing is lost but disk.
    max_slot_wal_keep_size: "4GB",
    max_replication_slots: 10,
    max_wal_senders: 10,
    password_encryption: "scram-sha-256",
    "pg_stat_statements.track": "all",
    shared_buffers: "128MB",
    shared_preload_libraries: "pg_stat_statements",
    wal_keep_size: "128MB",
    wal_log_hints: "on",
    work_mem: "4MB",
};

export interface DynamicConfigInput {
    patroni: PatroniSpec;
    /** Stack subnet (CIDR): replication is admitted only from it. */
    subnet: string;
    /** Stack-owned parameters (archiving, from the Barman server) merged last. */
    ownedParameters?: Record<string, PgValue>;
    /** Permanent replication slots Patroni must keep (it drops slots it does not know). */
    slots?: Record<string, { type: "physical" }>;
}

/** shared_preload_libraries always keeps pg_stat_statements, whatever the user adds. */
function preloadLibraries(value: PgValue | undefined): string {
    const libs = String(value ?? "")
        .split(",")
        .map(s => s.trim())
        .filter(Boolean);
    if (!libs.includes("pg_stat_statements")) {
        libs.unshift("pg_stat_statements");
    }
    return libs.join(",");
}

/** pg_hba: peer locally, replication only from the stack network, everything else by SCRAM password. */
export function renderPgHba(subnet: string): string[] {
    return [
        "local all all peer",
        // Patroni checks a rewound node's timeline over a replication connection to loopback.
        `host replication ${ROLES.replication} 127.0.0.1/32 scram-sha-256`,
        `host replication ${ROLES.replication} ::1/128 scram-sha-256`,
        `host replication ${ROLES.replication} ${subnet} scram-sha-256`,
        `host replication ${ROLES.streamingBarman} ${subnet} scram-sha-256`,
        "host replication all 0.0.0.0/0 reject",
        "host all all 0.0.0.0/0 scram-sha-256",
        "host all all ::/0 scram-sha-256",
    ];
}

/**
 * The cluster-wide configuration Patroni keeps in the DCS. Changing any of it never touches a
 * container: it is seeded before bootstrap and PATCHed into a running cluster.
 */
export function renderDynamicConfig(input: DynamicConfigInput): Record<string, unknown> {
    const p = input.patroni;
    const parameters: Record<string, PgValue> = { ...DEFAULT_PARAMETERS, ...p.postgresql, ...(input.ownedParameters ?? {}) };
    parameters.shared_preload_libraries = preloadLibraries(parameters.shared_preload_libraries);
    const sorted = Object.fromEntries(
        Object.keys(parameters)
            .sort()
            .map(k => [k, parameters[k]]),
    );
    return {
        failsafe_mode: p.failsafeMode,
        loop_wait: p.loopWait,
        maximum_lag_on_failover: p.maximumLagOnFailover,
        postgresql: {
            parameters: sorted,
            pg_hba: renderPgHba(input.subnet),
            use_pg_rewind: true,
            use_slots: true,
        },
        primary_start_timeout: p.primaryStartTimeout,
        retry_timeout: p.retryTimeout,
        slots: input.slots ?? {},
        // Patroni 4 takes true/false, or "quorum" for quorum commit.
        synchronous_mode: p.synchronousMode === "quorum" ? "quorum" : p.synchronousMode !== "off",
        synchronous_mode_strict: p.synchronousMode === "strict",
        ttl: p.ttl,
    };
}
