import { PatroniSpec, PgValue } from "../config";
import { ROLES, TLS_FILES } from "./layout";

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
    /** Who may log in as which role, by address (pg_hba). */
    hba: HbaSources;
    /** Stack-owned parameters (archiving, from the Barman server) merged last. */
    ownedParameters?: Record<string, PgValue>;
    /** Permanent replication slots Patroni must keep (it drops slots it does not know). */
    slots?: Record<string, { type: "physical" }>;
}

/**
 * PostgreSQL's TLS: the node's certificate from the stack's CA (its key on the tmpfs tls-key writes), and
 * the CA, so that a client certificate, if one is offered, must be the stack's (another CA's is refused).
 * Stack-owned (`ssl*`): merged last. ssl is reloadable: no restart, no container change.
 */
export const SSL_PARAMETERS: Record<string, PgValue> = {
    ssl: "on",
    ssl_ca_file: TLS_FILES.ca,
    ssl_cert_file: TLS_FILES.cert,
    ssl_key_file: TLS_FILES.key,
    ssl_min_protocol_version: "TLSv1.2",
};

/** The fixed addresses pg_hba admits each stack role from. */
export interface HbaSources {
    /** HAProxy: the write and read ports, and so the superuser, Barman and the exporter (they connect through it). */
    haproxy: string;
    /** Every Patroni node: replication and pg_rewind. */
    members: string[];
    /** The superuser over TCP through HAProxy (config superuserAccess); false: rejected from everywhere. */
    superuserAccess: boolean;
    /** config tls.enabled: false lets the client roles (application, operator's, superuser) log in without TLS. */
    clientTls: boolean;
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

/**
 * pg_hba, first match wins: each stack role only from where it is used, every TCP login by SCRAM and, with
 * clientTls, over TLS. Replication and pg_rewind come from the nodes; the superuser, Barman and the exporter
 * reach PostgreSQL through HAProxy's write listener, so from its address (a node's published port, reached
 * through Docker's proxy, is not a way in for them); the application's role, and roles the operator creates,
 * from anywhere (the write and read ports and the nodes' published ports). Patroni itself uses the socket
 * (peer). Without clientTls only the client roles (the application's, the operator's, the superuser) may
 * log in without TLS; the stack's own roles keep it.
 */
export function renderPgHba(from: HbaSources): string[] {
    const hosts = (addresses: string[]) => addresses.map(a => `${a}/32`);
    const client = from.clientTls ? "hostssl" : "host";
    // `host ... reject` matches with and without TLS: a role's other sources, and its plain logins, end there.
    const only = (database: string, role: string, sources: string[], type = "hostssl") => [
        ...sources.map(src => `${type} ${database} ${role} ${src} scram-sha-256`),
        `host ${database} ${role} all reject`,
    ];
    const nodes = hosts(from.members);
    const haproxy = hosts([from.haproxy]);
    return [
        "local all all peer",
        // TCP only over TLS (`all` does not match replication, hence two lines).
        ...(from.clientTls ? ["hostnossl all all all reject"] : []),
        "hostnossl replication all all reject",
        // Patroni checks a rewound node's timeline over a replication connection to loopback.
        ...only("replication", ROLES.replication, ["127.0.0.1/32", "::1/128", ...nodes]),
        ...only("replication", ROLES.streamingBarman, haproxy),
        "hostssl replication all all reject",
        ...only("all", ROLES.superuser, from.superuserAccess ? haproxy : [], client),
        ...only("all", ROLES.rewind, nodes),
        ...only("all", ROLES.barman, haproxy),
        ...only("all", ROLES.monitor, haproxy),
        ...only("all", ROLES.streamingBarman, haproxy),
        ...only("all", ROLES.replication, nodes),
        `${client} all all all scram-sha-256`,
    ];
}

/**
 * The pg_hba lines a node's patroni.yml carries for initdb, unchanged since the first release so that
 * upgrading does not rewrite the file (which would replace every node's container). They apply only
 * from initdb until Patroni writes renderPgHba's lines from the DCS, which is seeded before bootstrap.
 */
export function bootstrapPgHba(subnet: string): string[] {
    return [
        "local all all peer",
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
    const parameters: Record<string, PgValue> = {
        ...DEFAULT_PARAMETERS,
        ...p.postgresql,
        ...(input.ownedParameters ?? {}),
        ...SSL_PARAMETERS,
    };
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
            pg_hba: renderPgHba(input.hba),
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
