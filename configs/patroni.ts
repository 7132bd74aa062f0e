import { API_PORT, DCS_NAMESPACE, ETCD_CLIENT_PORT, PG_BIN, PG_DATA, PG_PORT, PG_VERIFIED_TLS, ROLES, TLS_FILES } from "./layout";
import { dumpYaml } from "./yaml";

export interface PatroniNodeConfig {
    /** Patroni scope (cluster name), the same on every node. */
    scope: string;
    /** Member name, e.g. "db1". */
    name: string;
    /** This node's fixed address on the stack network. */
    address: string;
    /** Addresses of every etcd member. */
    etcdAddresses: string[];
    /** pg_hba lines written at initdb (Patroni requires them here); the DCS copy governs afterwards. */
    pgHba: string[];
    /**
     * Who may call the REST API's unsafe endpoints (PATCH /config, POST /switchover, /restart, /failsafe ...):
     * the members' addresses, the stack network's gateway, which is where the host's tools (`pulumi up`,
     * the operator commands) arrive through the published port, and loopback (patronictl inside the node).
     */
    apiAllowlist: string[];
}

/** Path of the post-bootstrap script inside the Patroni image. */
export const POST_BOOTSTRAP = "/usr/local/bin/patroni-post-bootstrap";
/** Marks old-timeline segments without archive status ready on promotion (see the script). */
export const ON_ROLE_CHANGE = "/usr/local/bin/patroni-on-role-change";

/**
 * Settings used only if the DCS holds no configuration when the cluster is first created. The stack
 * seeds the DCS before any node starts (see PatroniDynamicConfig), so this is a safety net, and it is
 * constant so that tuning never rewrites a node's file (which would replace its container).
 */
const BOOTSTRAP_DCS_FALLBACK = {
    ttl: 30,
    loop_wait: 10,
    retry_timeout: 10,
    maximum_lag_on_failover: 1048576,
    postgresql: { use_pg_rewind: true, use_slots: true },
};

/**
 * The node-local patroni.yml: identity, addresses and paths only. Everything tunable lives in the DCS;
 * passwords arrive as PATRONI_* environment variables, so this file holds no secret.
 */
export function renderPatroniYml(node: PatroniNodeConfig): string {
    return dumpYaml({
        scope: node.scope,
        namespace: DCS_NAMESPACE,
        name: node.name,
        log: { level: "INFO", format: "%(asctime)s %(levelname)s: %(message)s" },
        restapi: {
            listen: `0.0.0.0:${API_PORT}`,
            connect_address: `${node.address}:${API_PORT}`,
            // Unsafe endpoints need the password *and* one of these addresses: another container on the
            // stack network (the exporter, Barman, anything that got in) is refused even with the password.
            // Members are listed, not taken from the DCS (allowlist_include_members): during a DCS outage
            // Patroni has no member list, and the leader's POST /failsafe to its replicas would be refused.
            allowlist: node.apiAllowlist,
            // HTTPS with the node's certificate. Clients need none (the password and the allowlist guard
            // the unsafe endpoints); Patroni's own requests to the other members verify theirs with cafile.
            certfile: TLS_FILES.cert,
            keyfile: TLS_FILES.key,
            cafile: TLS_FILES.ca,
        },
        // etcd accepts only clients with a certificate from the stack's CA: this node's own.
        etcd3: {
            hosts: node.etcdAddresses.map(a => `${a}:${ETCD_CLIENT_PORT}`),
            protocol: "https",
            cacert: TLS_FILES.ca,
            cert: TLS_FILES.cert,
            key: TLS_FILES.key,
        },
        bootstrap: {
            dcs: BOOTSTRAP_DCS_FALLBACK,
            initdb: [{ encoding: "UTF8" }, { locale: "C.UTF-8" }, "data-checksums"],
            post_bootstrap: POST_BOOTSTRAP,
            pg_hba: node.pgHba,
        },
        postgresql: {
            listen: `0.0.0.0:${PG_PORT}`,
            connect_address: `${node.address}:${PG_PORT}`,
            data_dir: PG_DATA,
            bin_dir: PG_BIN,
            pgpass: "/tmp/pgpass",
            // Streaming replication, pg_basebackup and pg_rewind dial a member's fixed address, which its
            // certificate carries: verified TLS (the superuser's connections use the socket).
            authentication: {
                superuser: { username: ROLES.superuser },
                replication: { username: ROLES.replication, ...PG_VERIFIED_TLS },
                rewind: { username: ROLES.rewind, ...PG_VERIFIED_TLS },
            },
            parameters: { unix_socket_directories: "/var/run/postgresql" },
            // Patroni's own connections go over the socket (peer: the postgres OS user), so it can run and
            // promote even while the superuser's password differs from its environment (deployed again on
            // kept volumes); the leader's callback then sets the passwords (patroni-sync-passwords).
            use_unix_socket: true,
            callbacks: { on_start: ON_ROLE_CHANGE, on_role_change: ON_ROLE_CHANGE },
            create_replica_methods: ["basebackup"],
            basebackup: [{ checkpoint: "fast" }],
        },
        tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
    });
}
