// Stack configuration: read every `patroni-ha:*` key once, validate all of them, resolve defaults,
// and hand a plain, typed ClusterSpec to the components. Nothing below this module reads config.
import * as net from "net";
import { defaultSubnet, defaultOf, Field, Profile, PROFILES, SCHEMA, SchemaContext } from "./configSchema";
import { ROLES } from "./configs/layout";
import { hostPort, httpsUrl } from "./lib/net";

export const NAMESPACE = "patroni-ha";

/**
 * How commits wait for standbys (Patroni's synchronous_mode): "on" = one synchronous standby confirms every
 * commit (the default with two or more nodes); "quorum" = Patroni 4's quorum commit (ANY n of the
 * replicas); "strict" = "on", and with no replica left a commit waits for Barman's WAL stream (Patroni
 * then names any standby; it confirms at segment ends), blocking without it; "off" = asynchronous.
 */
export type SynchronousMode = "off" | "on" | "quorum" | "strict";
export const SYNCHRONOUS_MODES: readonly SynchronousMode[] = ["off", "on", "quorum", "strict"];
export type { Profile };
export type PgValue = string | number | boolean;

/** Optional container limits for one role. */
export interface RoleResources {
    /** Hard memory limit in MiB. */
    memoryMb?: number;
    /** CPU limit (Docker's --cpus, e.g. 1.5). */
    cpus?: number;
}

export interface PortsSpec {
    write: number;
    read: number;
    stats: number;
    /** db<n> PostgreSQL is published on postgresBase + n. */
    postgresBase: number;
    /** db<n> Patroni REST API is published on apiBase + n. */
    apiBase: number;
    /** etcd<n> client API is published on etcdBase + n when publishEtcd. */
    etcdBase: number;
    /** Publish etcd's client API on the host (TLS with client certificates either way). */
    publishEtcd: boolean;
    /** Point-in-time-recovery target PostgreSQL (started by `npm run pitr`). */
    pitr: number;
    /** Prometheus PostgreSQL exporter. */
    metrics: number;
    /** Barman's state as Prometheus metrics. */
    barmanMetrics: number;
    /** The optional Prometheus server. */
    prometheus: number;
    alertmanager: number;
    /** The failover sentinel's metrics. */
    sentinelMetrics: number;
}

export interface TlsSpec {
    /** false: PostgreSQL's client roles may log in without TLS (loopback-only stacks); the stack's own hops keep it. */
    enabled: boolean;
    /** Days every certificate of the stack (the CA's too) is valid. */
    validityDays: number;
}

export interface PatroniSpec {
    ttl: number;
    loopWait: number;
    retryTimeout: number;
    maximumLagOnFailover: number;
    primaryStartTimeout: number;
    failsafeMode: boolean;
    synchronousMode: SynchronousMode;
    /** User PostgreSQL parameters (already checked against the stack-owned ones). */
    postgresql: Record<string, PgValue>;
}

export interface HaproxySpec {
    /** Health check interval while a server is stable, ms. */
    inter: number;
    /** Interval while a server is changing state, ms. */
    fastinter: number;
    /** Interval while a server is down, ms. */
    downinter: number;
    rise: number;
    fall: number;
    /** Max client connections per PostgreSQL server. */
    maxconn: number;
}

/** How WAL and base backups reach Barman: see docs/backups.md. */
export type BarmanMode = "streaming" | "rsync";

export interface BarmanSpec {
    /** "streaming" (default, follows the leader) or the seed's "rsync" over SSH. */
    mode: BarmanMode;
    retentionPolicy: string;
    walRetentionPolicy: string;
    minimumRedundancy: number;
    /** Cron expression (5 fields, UTC) for scheduled base backups; "" disables. */
    backupSchedule: string;
    /** Cron expression (5 fields, UTC) for the restore drill; "" disables. */
    restoreDrillSchedule: string;
    /** A host directory for the backups instead of the stack's volume; "" = the volume. */
    backupDir: string;
    /** The BackupTooOld alert fires when the newest backup began longer ago than this. */
    backupMaxAgeHours: number;
    compression: "gzip" | "none";
}

/**
 * Fixed addresses on the service network (serviceSubnet), so parts refer to each other by address, never by
 * DNS: everything that serves or watches the clients' side (HAProxy, Barman, the exporter, Prometheus, ...)
 * lives only there; etcd is not on it (only its plain metrics port answers there).
 */
export interface Addresses {
    gateway: string;
    haproxy: string;
    barman: string;
    exporter: string;
    prometheus: string;
    alertmanager: string;
    volumeMetrics: string;
    /**
     * Every node slot's service address by name (db1 … db<max patroniNodes>), whatever patroniNodes is now:
     * HAProxy lists every slot, so adding or removing a node changes nothing of its configuration (an empty
     * slot fails its checks and stays DOWN).
     */
    memberSlots: { name: string; address: string }[];
}

/**
 * Fixed addresses on the stack network (subnet), which only etcd, the Patroni nodes and the sentinel join:
 * the DCS, replication and the members' REST API calls to each other stay there.
 */
export interface ClusterAddresses {
    gateway: string;
    sentinel: string;
    /**
     * Every address a Patroni node may ever have there (db1 … db<max patroniNodes>), whatever patroniNodes is
     * now: what the nodes' REST API allowlist names, so adding a node rewrites no other node's file.
     */
    memberBlock: string[];
}

/** One Patroni node, resolved once here; everything else takes these values instead of rebuilding them. */
export interface MemberSpec {
    /** "db<n>": Patroni member name, container suffix, HAProxy server and replication application_name. */
    name: string;
    /** Address on the stack network: Patroni's connect addresses (replication, the members' REST API calls). */
    address: string;
    /** Address on the service network: HAProxy's checks and routes, Prometheus's scrapes. */
    serviceAddress: string;
    /** Host port of its PostgreSQL (ports.postgresBase + n). */
    hostPostgresPort: number;
    /** Host port of its Patroni REST API (ports.apiBase + n). */
    hostApiPort: number;
    /** REST API URL from the Docker host (IPv6 hosts bracketed). */
    apiUrl: string;
    /** "host:port" of its PostgreSQL from the Docker host. */
    postgresEndpoint: string;
}

/** One etcd member, resolved once. */
export interface EtcdMemberSpec {
    /** "etcd<n>". */
    name: string;
    /** Address on the stack network: its client and peer ports listen there only. */
    address: string;
    /** Address on the service network: only its plain metrics port answers there (Prometheus). */
    serviceAddress: string;
    /** Host port of its client API (ports.etcdBase + n), when published (ports.publishEtcd). */
    hostClientPort?: number;
    /** Client URL from the Docker host (https), when published. */
    clientUrl?: string;
}

/** Everything the program needs, validated and with defaults resolved. Plain data. */
export interface ClusterSpec {
    stack: string;
    profile: Profile;
    /** Run the failover sentinel (a dead leader's key is deleted at once). */
    sentinel: boolean;
    /** Run the optional Prometheus server with the stack's alert rules. */
    prometheus: boolean;
    /** Data volumes survive `pulumi destroy` (retainOnDelete). */
    retainData: boolean;
    /** The superuser may log in over TCP through HAProxy (superuserConnectionString); false: local socket only. */
    superuserAccess: boolean;
    baseImage: string;
    /** Host IP of the write and read ports. */
    bindAddress: string;
    /** Host IP of every other published port (admin: node ports, REST API, etcd, stats, metrics, PITR). */
    adminBindAddress: string;
    /** Address clients on the Docker host use to reach the write and read ports. */
    publicHost: string;
    /** Address the operator's tools on the Docker host use to reach the admin ports. */
    adminHost: string;
    /** The stack network's CIDR (etcd, the nodes, the sentinel). */
    subnet: string;
    /** The service network's CIDR (HAProxy, Barman, the exporter, Prometheus, ...; the nodes' second address). */
    serviceSubnet: string;
    patroniNodes: number;
    etcdNodes: number;
    ports: PortsSpec;
    tls: TlsSpec;
    patroni: PatroniSpec;
    haproxy: HaproxySpec;
    barman: BarmanSpec;
    app: { database: string; user: string };
    /** The optional Alertmanager: runs when webhookUrl is set (and Prometheus is on). */
    alertmanager: { webhookUrl: string };
    resources: { etcd: RoleResources; patroni: RoleResources; haproxy: RoleResources; barman: RoleResources };
    addresses: Addresses;
    clusterAddresses: ClusterAddresses;
    /** Patroni nodes, db1 first. */
    members: MemberSpec[];
    /** etcd members, etcd1 first. */
    etcd: EtcdMemberSpec[];
}

export { PROFILES };

/** PostgreSQL parameters the stack sets itself; a user value would break replication, archiving or routing. */
export const OWNED_PARAMETERS = [
    "archive_command",
    "archive_mode",
    "archive_timeout",
    "cluster_name",
    "config_file",
    "data_directory",
    "hba_file",
    "hot_standby",
    "ident_file",
    "listen_addresses",
    "logging_collector",
    "port",
    "primary_conninfo",
    "primary_slot_name",
    "promote_trigger_file",
    "recovery_target",
    "recovery_target_action",
    "recovery_target_inclusive",
    "recovery_target_lsn",
    "recovery_target_name",
    "recovery_target_time",
    "recovery_target_timeline",
    "recovery_target_xid",
    "restore_command",
    "synchronous_standby_names",
    "unix_socket_directories",
    "wal_level",
    // Security: how passwords are stored, and parameters that run a command or load an archive module.
    "password_encryption",
    "archive_library",
    "archive_cleanup_command",
    "recovery_end_command",
    // TLS belongs to the stack (its certificates, its files): ssl and every ssl_* parameter.
    "ssl*",
];

/** Whether a PostgreSQL parameter is the stack's (OWNED_PARAMETERS; a trailing `*` is a prefix). */
export const stackOwned = (name: string): boolean =>
    OWNED_PARAMETERS.some(p => (p.endsWith("*") ? name.toLowerCase().startsWith(p.slice(0, -1)) : name.toLowerCase() === p));

/** Control characters (a newline would start another line in postgresql.conf or a rendered file). */
const hasControlChars = (s: string) => [...s].some(ch => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);

/** Role names the stack creates itself; the application role must differ. */
export const RESERVED_ROLES: readonly string[] = Object.values(ROLES);

/** Address offsets inside the stack subnet. Blocks stay put when counts change. */
export const OFFSETS = {
    gateway: 1,
    haproxy: 2,
    barman: 3,
    exporter: 4,
    prometheus: 5,
    alertmanager: 6,
    sentinel: 7,
    volumeMetrics: 8,
    etcd: 10,
    db: 20,
};

export class ConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(
            `Invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
                problems.map(p => `  - ${p}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

/** Parse a raw config value as Pulumi hands it over (always a string) into JSON where it is JSON. */
function decode(value: string): unknown {
    try {
        return JSON.parse(value);
    } catch {
        return value;
    }
}

type Problems = string[];
const show = (v: unknown) => JSON.stringify(v);

function isObject(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkKeys(key: string, value: Record<string, unknown>, allowed: string[], problems: Problems) {
    for (const k of Object.keys(value)) {
        if (!allowed.includes(k)) {
            problems.push(`${key}.${k}: unknown key (given ${show(value[k])}); allowed keys: ${allowed.join(", ")}`);
        }
    }
}

function objectAt(key: string, raw: unknown, allowed: string[], problems: Problems): Record<string, unknown> {
    if (raw === undefined) {
        return {};
    }
    if (!isObject(raw)) {
        problems.push(`${key}: must be an object with keys ${allowed.join(", ")} (given ${show(raw)})`);
        return {};
    }
    checkKeys(key, raw, allowed, problems);
    return raw;
}

function integer(key: string, raw: unknown, dflt: number, min: number, max: number, problems: Problems): number {
    if (raw === undefined) {
        return dflt;
    }
    const n = typeof raw === "string" && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof n !== "number" || !Number.isInteger(n)) {
        problems.push(`${key}: must be an integer from ${min} to ${max} (given ${show(raw)})`);
        return dflt;
    }
    if (n < min || n > max) {
        problems.push(`${key}: must be an integer from ${min} to ${max} (given ${n})`);
        return dflt;
    }
    return n;
}

function boolean(key: string, raw: unknown, dflt: boolean, problems: Problems): boolean {
    if (raw === undefined) {
        return dflt;
    }
    if (raw === true || raw === "true") {
        return true;
    }
    if (raw === false || raw === "false") {
        return false;
    }
    problems.push(`${key}: must be true or false (given ${show(raw)})`);
    return dflt;
}

function oneOf<T extends string>(
    key: string,
    raw: unknown,
    dflt: T,
    allowed: readonly T[],
    problems: Problems,
    aliases: Record<string, string> = {},
): T {
    if (raw === undefined) {
        return dflt;
    }
    const given = typeof raw === "boolean" ? (raw ? "on" : "off") : raw;
    // A former name keeps working (public config values are contracts).
    const s = typeof given === "string" && Object.hasOwn(aliases, given) ? aliases[given] : given;
    if (typeof s === "string" && (allowed as readonly string[]).includes(s)) {
        return s as T;
    }
    problems.push(`${key}: must be one of ${allowed.map(a => `"${a}"`).join(", ")} (given ${show(raw)})`);
    return dflt;
}

function text(key: string, raw: unknown, dflt: string, problems: Problems, field: Extract<Field, { kind: "text" }>): string {
    if (raw === undefined) {
        return dflt;
    }
    if (typeof raw === "string" && hasControlChars(raw)) {
        problems.push(`${key}: control characters (newline, tab, ...) are not allowed (given ${show(raw)})`);
        return dflt;
    }
    const why = typeof raw === "string" && raw.trim() !== "" && (!field.pattern || field.pattern.test(raw)) ? field.problem?.(raw) : "";
    if (why !== undefined) {
        problems.push(`${key}: must be ${field.what ?? "a non-empty string"}${why ? `: ${why}` : ""} (given ${show(raw)})`);
        return dflt;
    }
    return raw as string;
}

export function ipToInt(ip: string): number {
    return ip.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}
export function intToIp(n: number): string {
    return [24, 16, 8, 0].map(shift => Math.floor(n / 2 ** shift) % 256).join(".");
}

export { defaultSubnet };

/** The Patroni member name of node n (1-based). */
export const memberName = (n: number) => `db${n}`;
/** The etcd member name of member n (1-based). */
export const etcdMemberName = (n: number) => `etcd${n}`;

/** An IPv4 CIDR as its first address and prefix length; undefined when it is not one. */
function parseCidr(cidr: string): { base: number; prefix: number } | undefined {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
    return m && net.isIPv4(m[1]) && Number(m[2]) <= 32 ? { base: ipToInt(m[1]), prefix: Number(m[2]) } : undefined;
}

/** The two networks may not overlap: Docker refuses a second network over the same addresses. */
function networksApart(p: Parsed, problems: Problems): void {
    const range = (cidr: string) => {
        const c = parseCidr(cidr);
        if (!c) {
            return undefined;
        }
        const size = 2 ** (32 - c.prefix);
        const start = c.base - (c.base % size);
        return [start, start + size - 1];
    };
    const a = range(p.subnet),
        b = range(p.serviceSubnet);
    if (a && b && a[0] <= b[1] && b[0] <= a[1]) {
        problems.push(`serviceSubnet: ${p.serviceSubnet} overlaps subnet ${p.subnet}; the two networks need separate ranges`);
    }
}

/** Network addresses: singletons, then the etcd and Patroni blocks (n-th member at block + n). */
function subnetAddresses(key: string, cidr: string, patroniNodes: number, problems: Problems): ((offset: number) => string) | undefined {
    const c = parseCidr(cidr);
    if (!c) {
        problems.push(`${key}: must be an IPv4 CIDR such as 10.213.7.0/24 (given ${show(cidr)})`);
        return undefined;
    }
    const { base, prefix } = c;
    const size = 2 ** (32 - prefix);
    if (base % size !== 0) {
        problems.push(`${key}: ${cidr} has host bits set; the network address is ${intToIp(base - (base % size))}/${prefix}`);
        return undefined;
    }
    const highest = OFFSETS.db + Math.max(patroniNodes, 1);
    if (highest >= size - 1) {
        const need = 32 - Math.ceil(Math.log2(highest + 2));
        problems.push(`${key}: ${cidr} is too small for the containers (needs address offset ${highest}); use a /${need} or larger`);
        return undefined;
    }
    return (offset: number) => intToIp(base + offset);
}

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

function postgresParameters(raw: unknown, problems: Problems): Record<string, PgValue> {
    const key = "patroni.postgresql";
    if (raw === undefined) {
        return {};
    }
    if (!isObject(raw)) {
        problems.push(`${key}: must be an object of PostgreSQL parameter names to values (given ${show(raw)})`);
        return {};
    }
    const out: Record<string, PgValue> = {};
    for (const [name, value] of Object.entries(raw)) {
        if (!PARAM_NAME.test(name)) {
            problems.push(`${key}.${name}: not a valid PostgreSQL parameter name (letters, digits, underscores, one optional dot)`);
        } else if (stackOwned(name)) {
            problems.push(
                `${key}.${name}: set by the stack itself and cannot be overridden (given ${show(value)}); stack-owned: ${OWNED_PARAMETERS.join(", ")}`,
            );
        } else if (!["string", "number", "boolean"].includes(typeof value)) {
            problems.push(`${key}.${name}: value must be a string, number or boolean (given ${show(value)})`);
        } else if (typeof value === "string" && hasControlChars(value)) {
            problems.push(`${key}.${name}: control characters (newline, tab, ...) are not allowed (given ${show(value)})`);
        } else {
            out[name] = value as PgValue;
        }
    }
    return out;
}

/** Parse one value by its schema field; every problem names the key, the value and what is allowed. */
function parseField(key: string, field: Field, raw: unknown, ctx: SchemaContext, problems: Problems): unknown {
    const dflt = () => defaultOf(field, ctx);
    switch (field.kind) {
        case "integer":
            return integer(key, raw, dflt() as number, field.min, field.max, problems);
        case "number":
            if (raw === undefined) {
                return dflt();
            }
            if (typeof raw !== "number" || !(raw > field.above) || raw > field.max) {
                problems.push(`${key}: must be a number greater than ${field.above} (given ${show(raw)})`);
                return dflt();
            }
            return raw;
        case "boolean":
            if (raw === "" && field.empty) {
                return dflt();
            }
            return boolean(key, raw, dflt() as boolean, problems);
        case "enum":
            return oneOf(key, raw, dflt() as string, field.values, problems, field.aliases);
        case "text":
            if (raw === "" && field.empty) {
                return field.empty === "value" ? "" : dflt();
            }
            return text(key, raw, dflt() as string, problems, field);
        case "parameters":
            return postgresParameters(raw, problems);
        case "object": {
            const o = objectAt(key, raw, Object.keys(field.fields), problems);
            const out: Record<string, unknown> = {};
            for (const [k, f] of Object.entries(field.fields)) {
                if (field.sparse && o[k] === undefined) {
                    continue;
                }
                out[k] = parseField(`${key}.${k}`, f, o[k], ctx, problems);
            }
            return out;
        }
    }
}

/** The keys as the schema gives them, before the rules between keys. */
interface Parsed {
    profile: Profile;
    sentinel: boolean;
    prometheus: boolean;
    patroniNodes: number;
    etcdNodes: number;
    retainData: boolean;
    superuserAccess: boolean;
    baseImage: string;
    bindAddress: string;
    adminBindAddress: string;
    subnet: string;
    serviceSubnet: string;
    ports: PortsSpec;
    tls: TlsSpec;
    patroni: PatroniSpec;
    haproxy: HaproxySpec;
    barman: BarmanSpec;
    app: { database: string; user: string };
    /** The optional Alertmanager: runs when webhookUrl is set (and Prometheus is on). */
    alertmanager: { webhookUrl: string };
    resources: ClusterSpec["resources"];
}

/** `tls: false` (or true), a boolean where an object is declared, is short for `tls: {enabled: false}`. */
function tlsShorthand(raw: Record<string, unknown>): Record<string, unknown> {
    const t = raw.tls;
    return typeof t === "boolean" || t === "true" || t === "false" ? { ...raw, tls: { enabled: String(t) === "true" } } : raw;
}

/** Every top-level key in schema order; defaults that depend on profile and patroniNodes see their parsed values. */
function parseKeys(raw: Record<string, unknown>, stack: string, problems: Problems): Parsed {
    for (const k of Object.keys(raw)) {
        if (!(k in SCHEMA)) {
            problems.push(`${k}: unknown key ${NAMESPACE}:${k}; known keys: ${Object.keys(SCHEMA).join(", ")}`);
        }
    }
    const keys = tlsShorthand(raw);
    const out: Record<string, unknown> = {};
    const ctx: SchemaContext = {
        stack,
        get profile() {
            return out.profile as Profile;
        },
        get patroniNodes() {
            return out.patroniNodes as number;
        },
    };
    for (const [k, field] of Object.entries(SCHEMA)) {
        out[k] = parseField(k, field, keys[k], ctx, problems);
    }
    return out as unknown as Parsed;
}

// Rules between keys: each reads the parsed keys and reports problems or warnings.

function evenEtcdCount(p: Parsed, warnings: string[]): void {
    if (p.etcdNodes % 2 === 0) {
        warnings.push(
            `etcdNodes is ${p.etcdNodes}, an even count: a cluster of ${p.etcdNodes} needs ${p.etcdNodes / 2 + 1} members for quorum, ` +
                `so it survives ${p.etcdNodes / 2 - 1} failure(s), no more than ${p.etcdNodes - 1} members would. Use an odd count.`,
        );
    }
}

function bindAddressIsIp(raw: Record<string, unknown>, problems: Problems): void {
    for (const key of ["bindAddress", "adminBindAddress"]) {
        if (raw[key] !== undefined && net.isIP(String(raw[key])) === 0) {
            problems.push(`${key}: must be an IP address such as 127.0.0.1 or 0.0.0.0 (given ${show(raw[key])})`);
        }
    }
}

const isLoopback = (ip: string) => ip === "::1" || /^127\./.test(ip);

/** Ports published beyond loopback are named at deploy time: nothing leaves the host unannounced. */
function exposure(
    { bindAddress, adminBindAddress, ports, patroniNodes, etcdNodes, prometheus, alertmanager, sentinel }: Parsed,
    warnings: string[],
): void {
    if (net.isIP(bindAddress) && !isLoopback(bindAddress)) {
        warnings.push(
            `bindAddress is ${bindAddress}: the write port ${ports.write} and the read port ${ports.read} are reachable beyond this host ` +
                `(SCRAM passwords over verified TLS); firewall them to your applications.` +
                (isLoopback(adminBindAddress)
                    ? ` Every other port (nodes, REST API, etcd, stats, metrics) stays on adminBindAddress ${adminBindAddress}; earlier versions published them on bindAddress too.`
                    : ""),
        );
    }
    if (net.isIP(adminBindAddress) && !isLoopback(adminBindAddress)) {
        const range = (base: number, n: number) => (n === 1 ? `${base + 1}` : `${base + 1}-${base + n}`);
        const exposed = [
            `every node's PostgreSQL (${range(ports.postgresBase, patroniNodes)})`,
            `Patroni's REST API (${range(ports.apiBase, patroniNodes)})`,
            ...(ports.publishEtcd ? [`etcd (${range(ports.etcdBase, etcdNodes)}, TLS with client certificates)`] : []),
            `HAProxy's stats page (${ports.stats})`,
            `the metrics endpoints (${ports.metrics}, ${ports.barmanMetrics})`,
            ...(prometheus ? [`Prometheus (${ports.prometheus})`] : []),
            ...(alertmanager.webhookUrl ? [`Alertmanager (${ports.alertmanager})`] : []),
            ...(sentinel ? [`the sentinel's metrics (${ports.sentinelMetrics})`] : []),
            `the PITR instance (${ports.pitr})`,
        ];
        warnings.push(
            `adminBindAddress is ${adminBindAddress}: reachable beyond this host are ${exposed.join(", ")}. Keep it on 127.0.0.1.`,
        );
    }
}

/** Plain PostgreSQL logins (tls.enabled false) only where nobody beyond this host reaches a published port. */
function plainClientsOnlyOnLoopback({ tls, bindAddress, adminBindAddress }: Parsed, problems: Problems): void {
    if (tls.enabled) {
        return;
    }
    const open = Object.entries({ bindAddress, adminBindAddress }).filter(([, ip]) => net.isIP(ip) && !isLoopback(ip));
    if (open.length > 0) {
        problems.push(
            `tls.enabled: false lets clients log in without TLS, so it needs every published port on loopback; ` +
                `${open.map(([k, ip]) => `${k} is ${ip}`).join(", ")} (set ${open.map(([k]) => k).join(" and ")} to 127.0.0.1, or keep TLS on)`,
        );
    }
}

/** Every host port the stack publishes, named, differs from every other. */
function publishedPortsDiffer(p: Parsed, problems: Problems): void {
    const { ports } = p;
    const published: [string, number][] = [
        ["ports.write", ports.write],
        ["ports.read", ports.read],
        ["ports.stats", ports.stats],
        ["ports.pitr", ports.pitr],
        ["ports.metrics", ports.metrics],
        ["ports.barmanMetrics", ports.barmanMetrics],
        ...(p.prometheus ? [["ports.prometheus", ports.prometheus] as [string, number]] : []),
        ...(p.alertmanager.webhookUrl ? [["ports.alertmanager", ports.alertmanager] as [string, number]] : []),
        ...(p.sentinel ? [["ports.sentinelMetrics", ports.sentinelMetrics] as [string, number]] : []),
    ];
    for (let n = 1; n <= p.patroniNodes; n++) {
        published.push([`ports.postgresBase+${n} (${memberName(n)} PostgreSQL)`, ports.postgresBase + n]);
        published.push([`ports.apiBase+${n} (${memberName(n)} REST API)`, ports.apiBase + n]);
    }
    for (let n = 1; p.ports.publishEtcd && n <= p.etcdNodes; n++) {
        published.push([`ports.etcdBase+${n} (${etcdMemberName(n)} client)`, ports.etcdBase + n]);
    }
    const seen = new Map<number, string>();
    for (const [name, port] of published) {
        if (port < 1 || port > 65535) {
            problems.push(`${name}: host port ${port} is outside 1-65535`);
        }
        const other = seen.get(port);
        if (other) {
            problems.push(`${name}: host port ${port} is also used by ${other}; every published port must differ`);
        }
        seen.set(port, name);
    }
}

/** Patroni's own rule (loopWait + 2 * retryTimeout <= ttl) and the floors below which it misbehaves. */
function patroniTimings({ patroni }: Parsed, problems: Problems): void {
    const t = `(ttl ${patroni.ttl}, loopWait ${patroni.loopWait}, retryTimeout ${patroni.retryTimeout})`;
    if (patroni.ttl < 20) {
        problems.push(`patroni.ttl: must be at least 20 seconds ${t}`);
    }
    if (patroni.loopWait < 1) {
        problems.push(`patroni.loopWait: must be at least 1 second ${t}`);
    }
    if (patroni.retryTimeout < 3) {
        problems.push(`patroni.retryTimeout: must be at least 3 seconds ${t}`);
    }
    if (patroni.loopWait + 2 * patroni.retryTimeout > patroni.ttl) {
        problems.push(
            `patroni.ttl: Patroni requires loopWait + 2 * retryTimeout <= ttl, but ${patroni.loopWait} + 2 * ${patroni.retryTimeout} > ${patroni.ttl} ${t}`,
        );
    }
}

/** Alertmanager routes what Prometheus evaluates: without Prometheus it would have nothing to send. */
function alertmanagerNeedsPrometheus({ alertmanager, prometheus }: Parsed, problems: Problems): void {
    if (alertmanager.webhookUrl && !prometheus) {
        problems.push("alertmanager.webhookUrl: needs prometheus: true (Alertmanager sends what Prometheus's rules fire)");
    }
}

function synchronousNeedsStandby({ patroni, patroniNodes }: Parsed, warnings: string[]): void {
    if (patroni.synchronousMode !== "off" && patroniNodes < 2) {
        warnings.push(
            `patroni.synchronousMode is "${patroni.synchronousMode}" with one node: there is no standby to confirm commits` +
                (patroni.synchronousMode === "strict" ? ", so writes block until a second node exists" : ""),
        );
    }
}

function rsyncLimits({ barman }: Parsed, warnings: string[]): void {
    if (barman.mode === "rsync") {
        warnings.push(
            `barman.mode is "rsync" (the seed's SSH/rsync design): Barman still follows the leader (archive_command ` +
                `pushes from every node; rsync base backups reach the leader through HAProxy), but without WAL streaming the archive ` +
                `lags up to archive_timeout (60 s) behind the cluster, so losing the cluster's disks loses that much to ` +
                `point-in-time recovery, and while Barman is down archive_command fails and WAL piles up in every node's pg_wal. ` +
                `"streaming" has neither limit.`,
        );
    }
}

function appNamesFree({ app }: Parsed, problems: Problems): void {
    if (RESERVED_ROLES.includes(app.user)) {
        problems.push(`app.user: "${app.user}" is a role the stack creates itself; choose another name`);
    }
    if (["postgres", "template0", "template1"].includes(app.database)) {
        problems.push(`app.database: "${app.database}" is a system database; choose another name`);
    }
}

function stackNameFitsDocker(stack: string, problems: Problems): void {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(stack)) {
        problems.push(`stack name "${stack}": Docker object names carry it, so use letters, digits, '.', '_' or '-'`);
    }
}

/** Validate raw config (key without namespace -> decoded value) for a stack. Throws ConfigError with every problem. */
export function parseConfig(raw: Record<string, unknown>, stack: string): { spec: ClusterSpec; warnings: string[] } {
    const problems: Problems = [];
    const warnings: string[] = [];
    const p = parseKeys(raw, stack, problems);
    evenEtcdCount(p, warnings);
    bindAddressIsIp(raw, problems);
    exposure(p, warnings);
    plainClientsOnlyOnLoopback(p, problems);
    const at = subnetAddresses("subnet", p.subnet, p.patroniNodes, problems);
    const atService = subnetAddresses("serviceSubnet", p.serviceSubnet, p.patroniNodes, problems);
    networksApart(p, problems);
    publishedPortsDiffer(p, problems);
    patroniTimings(p, problems);
    synchronousNeedsStandby(p, warnings);
    alertmanagerNeedsPrometheus(p, problems);
    rsyncLimits(p, warnings);
    appNamesFree(p, problems);
    stackNameFitsDocker(stack, problems);
    if (problems.length > 0 || !at || !atService) {
        throw new ConfigError(problems);
    }
    const publicHost = clientHost(p.bindAddress);
    const adminHost = clientHost(p.adminBindAddress);
    const slots = Array.from({ length: (SCHEMA.patroniNodes as { max: number }).max }, (_, i) => i + 1);
    const addresses: Addresses = {
        gateway: atService(OFFSETS.gateway),
        haproxy: atService(OFFSETS.haproxy),
        barman: atService(OFFSETS.barman),
        exporter: atService(OFFSETS.exporter),
        prometheus: atService(OFFSETS.prometheus),
        alertmanager: atService(OFFSETS.alertmanager),
        volumeMetrics: atService(OFFSETS.volumeMetrics),
        memberSlots: slots.map(n => ({ name: memberName(n), address: atService(OFFSETS.db + n) })),
    };
    const clusterAddresses: ClusterAddresses = {
        gateway: at(OFFSETS.gateway),
        sentinel: at(OFFSETS.sentinel),
        memberBlock: slots.map(n => at(OFFSETS.db + n)),
    };
    const members: MemberSpec[] = Array.from({ length: p.patroniNodes }, (_, i) => {
        const n = i + 1,
            hostPostgresPort = p.ports.postgresBase + n,
            hostApiPort = p.ports.apiBase + n;
        return {
            name: memberName(n),
            address: at(OFFSETS.db + n),
            serviceAddress: atService(OFFSETS.db + n),
            hostPostgresPort,
            hostApiPort,
            apiUrl: httpsUrl(adminHost, hostApiPort),
            postgresEndpoint: hostPort(adminHost, hostPostgresPort),
        };
    });
    const etcd: EtcdMemberSpec[] = Array.from({ length: p.etcdNodes }, (_, i) => {
        const n = i + 1,
            member = { name: etcdMemberName(n), address: at(OFFSETS.etcd + n), serviceAddress: atService(OFFSETS.etcd + n) };
        if (!p.ports.publishEtcd) {
            return member;
        }
        const hostClientPort = p.ports.etcdBase + n;
        return { ...member, hostClientPort, clientUrl: httpsUrl(adminHost, hostClientPort) };
    });
    return { spec: { stack, ...p, publicHost, adminHost, addresses, clusterAddresses, members, etcd }, warnings };
}

/**
 * Who may call the nodes' REST API's unsafe endpoints (allowlist): the members (failsafe, each other's
 * state) and the host through a published port (either network's gateway, whichever the engine forwards
 * through). Nothing else on the service network needs to.
 */
export function restApiClients(spec: Pick<ClusterSpec, "addresses" | "clusterAddresses">): string[] {
    return [spec.clusterAddresses.gateway, spec.addresses.gateway, ...spec.clusterAddresses.memberBlock];
}

/** The address a client on the Docker host dials for a port bound to `bindAddress` (a wildcard: loopback). */
function clientHost(bindAddress: string): string {
    return bindAddress === "0.0.0.0" ? "127.0.0.1" : bindAddress === "::" ? "::1" : bindAddress;
}

/** Turn Pulumi's flat config map ("patroni-ha:key" -> string) into decoded values for parseConfig. */
export function rawFromPulumiConfig(all: Record<string, string>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(all)) {
        if (k.startsWith(`${NAMESPACE}:`)) {
            out[k.slice(NAMESPACE.length + 1)] = decode(v);
        }
    }
    // Strings that must stay strings even when they look like JSON numbers.
    for (const k of ["baseImage", "bindAddress", "subnet", "serviceSubnet"]) {
        const v = all[`${NAMESPACE}:${k}`];
        if (v !== undefined) {
            out[k] = v;
        }
    }
    return out;
}

/**
 * Read the stack's configuration from the Pulumi runtime, validate it and resolve defaults. Warnings go
 * to `pulumi.log.warn`; any problem throws before a single resource is declared.
 */
export function loadSpec(): ClusterSpec {
    // Imported here so the pure parts of this module load without the Pulumi runtime.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    const { spec, warnings } = parseConfig(rawFromPulumiConfig(pulumi.runtime.allConfig()), pulumi.getStack());
    for (const w of warnings) {
        pulumi.log.warn(w);
    }
    return spec;
}
