// Every `patroni-ha:*` key declared once: kind, default, limits and meaning. config.ts parses and
// validates with it (rules between keys are small named functions there); the unit tests check
// Pulumi.yaml's declarations and the configuration table (docs/configuration.md) against it (`npm run docs:config` writes
// the table). Import-free of config.ts, so both can use it.
import { cronProblem } from "./lib/cron";
import { BARMAN_GID, BARMAN_UID } from "./configs/layout";

export type Profile = "fast" | "conservative";

/** Former profile names, still accepted: `seed` was `conservative` (named after the architecture notes the project started from). */
export const PROFILE_ALIASES: Record<string, Profile> = { seed: "conservative" };

export interface ProfileTimings {
    patroni: { ttl: number; loopWait: number; retryTimeout: number; failsafeMode: boolean };
    haproxy: { inter: number; fastinter: number; downinter: number; rise: number; fall: number; maxconn: number };
}

/**
 * Timings per profile. "conservative" is Patroni's own 30/10/10 with slower HAProxy checks (the timings of the
 * architecture notes the project started from, once called "seed"). "fast" keeps Patroni's safety rule (loopWait +
 * 2 * retryTimeout <= ttl, ttl >= 20) and shortens detection: with etcd3 the replicas wake the moment the
 * leader's lease expires, which happens ttl minus 0..loopWait after a crash (the leader refreshes it once
 * a loop), so a longer loop lowers the expected failover time; failsafe mode keeps the primary up through
 * a short DCS outage when the other members confirm it; HAProxy checks twice a second and trusts one
 * good check (Patroni answers 200 on /primary only while holding the leader lock).
 */
export const PROFILES: Record<Profile, ProfileTimings> = {
    conservative: {
        patroni: { ttl: 30, loopWait: 10, retryTimeout: 10, failsafeMode: false },
        haproxy: { inter: 2000, fastinter: 1000, downinter: 2000, rise: 2, fall: 3, maxconn: 100 },
    },
    fast: {
        patroni: { ttl: 20, loopWait: 8, retryTimeout: 6, failsafeMode: true },
        haproxy: { inter: 500, fastinter: 250, downinter: 500, rise: 1, fall: 2, maxconn: 100 },
    },
};

/** What defaults may depend on, resolved before the rest: the stack name, the profile and the node count. */
export interface SchemaContext {
    stack: string;
    profile: Profile;
    patroniNodes: number;
}

type Default<T> = T | ((ctx: SchemaContext) => T);

interface Described {
    /** The table's "meaning" column. */
    doc: string;
    /** The table's "default" column where the value alone would not say it (profile-dependent, derived). */
    defaultDoc?: string;
}

export type Field = Described &
    (
        | { kind: "integer"; min: number; max: number; default?: Default<number> }
        /** A number greater than `above` (Docker's --cpus). */
        | { kind: "number"; above: number; max: number; default?: Default<number> }
        /** `empty: "default"`: "" takes the default (a profile-dependent one Pulumi.yaml cannot state). */
        | { kind: "boolean"; default: Default<boolean>; empty?: "default" }
        /** One of `values`; a YAML boolean reads as "on"/"off" (YAML 1.1 turns a bare on/off into one). */
        | { kind: "enum"; values: readonly string[]; default: Default<string>; aliases?: Record<string, string> }
        /**
         * A non-empty string matching `pattern` (`what` names the form in messages). `empty`: what "" means,
         * "default" (take the default) or "value" (a legitimate value, e.g. "no schedule"). `problem`: a
         * further check, saying why a value that matches `pattern` is still wrong.
         */
        | {
              kind: "text";
              default: Default<string>;
              pattern?: RegExp;
              what?: string;
              empty?: "default" | "value";
              problem?: (value: string) => string | undefined;
          }
        /** Named fields; `sparse`: a field given no value stays absent instead of taking a default. */
        | { kind: "object"; fields: Record<string, Field>; sparse?: boolean; oneRow?: boolean }
        /** patroni.postgresql: parameter name -> value, checked by config.ts against the stack-owned list. */
        | { kind: "parameters" }
    );

const PORT_DOC = "host port";
const port = (dflt: number, doc: string): Field => ({ kind: "integer", min: 1, max: 65535, default: dflt, doc: `${PORT_DOC}: ${doc}` });
/** A base port: node n is published on base + n, so the base leaves room for the largest node count. */
const basePort = (dflt: number, doc: string): Field => ({ kind: "integer", min: 0, max: 65535 - 9, default: dflt, doc });
/** "profile (`20` fast, `30` conservative)". */
const byProfile = (value: (t: ProfileTimings) => unknown) =>
    `profile (\`${value(PROFILES.fast)}\` fast, \`${value(PROFILES.conservative)}\` conservative)`;
const timing = (key: keyof ProfileTimings["patroni"] & string, min: number, max: number, doc: string): Field => ({
    kind: "integer",
    min,
    max,
    default: ctx => PROFILES[ctx.profile].patroni[key] as number,
    defaultDoc: byProfile(t => t.patroni[key]),
    doc,
});
const check = (key: keyof ProfileTimings["haproxy"], min: number, max: number, doc: string): Field => ({
    kind: "integer",
    min,
    max,
    default: ctx => PROFILES[ctx.profile].haproxy[key],
    defaultDoc: byProfile(t => t.haproxy[key]),
    doc,
});
const limits: Field = {
    kind: "object",
    sparse: true,
    oneRow: true,
    doc: "optional container limits `{memoryMb, cpus}` (the seed suggests patroni 2048-4096 MiB, etcd 512, haproxy 256, barman 1024-2048)",
    defaultDoc: "none",
    fields: {
        memoryMb: { kind: "integer", min: 64, max: 1048576, doc: "hard memory limit, MiB" },
        cpus: { kind: "number", above: 0, max: 1024, doc: "CPU limit (Docker's --cpus, e.g. 1.5)" },
    },
};
const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;
const IDENT_WHAT = "a lower-case SQL identifier (letters, digits, underscores; at most 63)";

/** The top-level keys, in the order they are parsed (profile and patroniNodes first: defaults depend on them). */
export const SCHEMA: Record<string, Field> = {
    profile: {
        kind: "enum",
        values: ["fast", "conservative"],
        aliases: PROFILE_ALIASES,
        default: "fast",
        doc: "failover timings: `fast` (20/8/6, failsafe mode, HAProxy checks twice a second) or `conservative` (Patroni's own 30/10/10, checks every 2 s; `seed`, its former name, still works); see [Failover timings](failover.md#failover-timings)",
    },
    sentinel: {
        kind: "boolean",
        default: ctx => ctx.profile === "fast",
        empty: "default",
        defaultDoc: "profile (`true` fast, `false` conservative)",
        doc: "run the failover sentinel: when the leader's container dies (killed, crashed; never a pause or a network fault), it deletes the leader key at once instead of waiting for the lease; it reads the Docker engine's events through a read-only filter; see [Failover sentinel](failover.md#failover-sentinel)",
    },
    prometheus: {
        kind: "boolean",
        default: false,
        doc: "also run Prometheus (Debian's) scraping every metrics endpoint, with the stack's alert rules; URL in `prometheusUrl`",
    },
    alertmanager: {
        kind: "object",
        doc: "the optional Alertmanager",
        fields: {
            webhookUrl: {
                kind: "text",
                empty: "value",
                default: "",
                pattern: /^https?:\/\/[^\s/?#]+(\/[^\s]*)?$/,
                what: 'an http(s) URL such as "https://hooks.example.com/pg", or "" for no Alertmanager',
                doc: "run Alertmanager (Debian's) and send every firing and resolved alert of the stack's rules to this webhook (needs `prometheus: true`); URL in `alertmanagerUrl`",
                defaultDoc: '`""` (none)',
            },
        },
    },
    patroniNodes: { kind: "integer", min: 1, max: 9, default: 4, doc: "Patroni + PostgreSQL members `db1` … `dbN`" },
    etcdNodes: {
        kind: "integer",
        min: 1,
        max: 7,
        default: 3,
        doc: "etcd members; an even count is accepted with a warning (it adds no fault tolerance)",
    },
    retainData: {
        kind: "boolean",
        default: true,
        doc: "keep the data volumes (PostgreSQL, etcd, Barman's backups and catalogue, the WAL hand-off) when the stack is destroyed or a volume would be replaced; see [Destroying a stack](#destroying-a-stack)",
    },
    superuserAccess: {
        kind: "boolean",
        default: true,
        doc: "the superuser (`postgres`) may log in over TCP through the write port (`superuserConnectionString`); `false` closes that too (pg_hba rejects it from everywhere; the output is dropped), leaving it the nodes' local socket, what Patroni and `npm run patronictl` use. The operator commands need no superuser either way",
    },
    baseImage: {
        kind: "text",
        default: "debian:bookworm-slim",
        pattern: /^[a-zA-Z0-9][\w.\-/:@]*$/,
        what: "a Docker image reference",
        doc: "Debian bookworm image all images are built `FROM`",
    },
    bindAddress: {
        kind: "text",
        default: "127.0.0.1",
        doc: "host IP the write and read ports bind to, the ones applications use (`0.0.0.0`: every interface; a warning says so)",
    },
    adminBindAddress: {
        kind: "text",
        default: "127.0.0.1",
        doc: "host IP every other published port binds to: each node's PostgreSQL and REST API, etcd, HAProxy's stats page, the metrics endpoints, Prometheus, the PITR instance. Keep it on loopback; a non-loopback value is a warning naming what it exposes",
    },
    subnet: {
        kind: "text",
        empty: "default",
        default: ctx => defaultSubnet(ctx.stack),
        doc: "IPv4 CIDR of the stack network, which only etcd, the Patroni nodes and the sentinel join (the DCS and replication), at least a /27; containers get fixed addresses in it and in `serviceSubnet`, at the same offsets (gateway .1, HAProxy .2, Barman .3, exporter .4, Prometheus .5, Alertmanager .6, sentinel .7, volume metrics .8, etcd n .10+n, db n .20+n)",
        defaultDoc: "derived from the stack name (`10.213.X.0/24`)",
    },
    serviceSubnet: {
        kind: "text",
        empty: "default",
        default: ctx => defaultServiceSubnet(ctx.stack),
        doc: "IPv4 CIDR of the service network, at least a /27 and apart from `subnet`: HAProxy, Barman, the exporter, Prometheus, Alertmanager and volume metrics live only there, the nodes and etcd (its metrics port only) have a second address there, at the same offsets. etcd's client and peer ports and replication stay on the stack network (`subnet`), which only etcd, the nodes and the sentinel join",
        defaultDoc: "derived from the stack name (`10.214.X.0/24`, the X of `subnet`'s default)",
    },
    ports: {
        kind: "object",
        doc: "host ports",
        fields: {
            write: port(5551, "HAProxy's write listener (the leader)"),
            read: port(5552, "HAProxy's read listener (the replicas)"),
            stats: port(5553, "HAProxy's stats page"),
            postgresBase: basePort(15430, "db n's PostgreSQL is published on `postgresBase + n` (db1 15431 …)"),
            apiBase: basePort(8000, "db n's Patroni REST API on `apiBase + n` (db1 8001 …)"),
            etcdBase: basePort(23790, "etcd n's client API on `etcdBase + n`, when `publishEtcd` is true"),
            publishEtcd: {
                kind: "boolean",
                default: false,
                doc: "publish etcd's client API on the host (`etcdBase + n`, on adminBindAddress); TLS with client certificates from the stack's CA either way, so only holders of one (the stack's parts) can read or write it. See [Security](security.md#the-control-plane)",
            },
            pitr: port(5554, "the point-in-time-recovery PostgreSQL that `npm run pitr` starts"),
            metrics: port(9187, "the PostgreSQL exporter (Prometheus)"),
            barmanMetrics: port(9780, "Barman's state as Prometheus metrics"),
            prometheus: port(9090, "the optional Prometheus server"),
            alertmanager: port(9093, "the optional Alertmanager"),
            sentinelMetrics: port(9781, "the failover sentinel's metrics"),
        },
    },
    tls: {
        kind: "object",
        doc: "TLS: the stack's own certificate authority (ECDSA P-256) and a certificate per part, from `@pulumi/tls`. `tls: false` is short for `tls: {enabled: false}`",
        fields: {
            enabled: {
                kind: "boolean",
                default: true,
                doc: "`false`: PostgreSQL clients (the application's role, roles you create, the superuser through the write port) may connect without TLS and the connection strings drop `sslmode`; only with `bindAddress` and `adminBindAddress` on loopback. The control plane (etcd, the REST API) and every hop inside the stack keep verified TLS. See [Security](security.md#tls-false)",
            },
            validityDays: {
                kind: "integer",
                min: 1,
                max: 3650,
                default: 365,
                doc: "days every certificate (the CA's too) is valid; see [rotating certificates](security.md#rotating-certificates)",
            },
        },
    },
    patroni: {
        kind: "object",
        doc: "Patroni",
        fields: {
            ttl: timing("ttl", 1, 86400, "leader lease, seconds; rule: `loopWait + 2 * retryTimeout <= ttl`, `ttl >= 20`"),
            loopWait: timing("loopWait", 0, 3600, "seconds between Patroni's loops; at least 1"),
            retryTimeout: timing("retryTimeout", 0, 3600, "seconds Patroni retries etcd and PostgreSQL before demoting; at least 3"),
            maximumLagOnFailover: {
                kind: "integer",
                min: 0,
                max: Number.MAX_SAFE_INTEGER,
                default: 1048576,
                doc: "bytes a replica may lag and still be promoted; also the read pool's lag limit",
            },
            primaryStartTimeout: {
                kind: "integer",
                min: 0,
                max: 86400,
                default: 300,
                doc: "seconds a crashed primary may take to recover before failover",
            },
            failsafeMode: {
                kind: "boolean",
                default: ctx => PROFILES[ctx.profile].patroni.failsafeMode,
                defaultDoc: byProfile(t => t.patroni.failsafeMode),
                doc: "keep the primary through a DCS outage while all members confirm it",
            },
            synchronousMode: {
                kind: "enum",
                values: ["off", "on", "quorum", "strict"],
                // With one node there is no standby to confirm a commit.
                default: ctx => (ctx.patroniNodes < 2 ? "off" : "on"),
                defaultDoc: '`"on"` (`"off"` with one node)',
                doc: '`"on"`: a synchronous standby confirms every commit, so no acknowledged commit is lost on failover; `"quorum"`: Patroni 4\'s quorum commit (`ANY 1` of the replicas); `"strict"`: like `"on"`, and with no replica commits wait (for Barman\'s WAL stream, up to `archive_timeout` each) or block; `"off"`: asynchronous. See [What a client can lose](failover.md#what-a-client-can-lose)',
            },
            postgresql: {
                kind: "parameters",
                defaultDoc: "`{}`",
                doc: "PostgreSQL parameters (e.g. `{work_mem: 16MB, max_connections: 200}`), over the stack's defaults; parameters the stack owns (`port`, `listen_addresses`, `archive_*`, `wal_level`, `hot_standby`, `password_encryption`, commands such as `recovery_end_command`, `ssl` and every `ssl_*`, …) are rejected, and so are control characters (a newline) in any value",
            },
        },
    },
    haproxy: {
        kind: "object",
        doc: "HAProxy",
        fields: {
            inter: check("inter", 100, 600000, "health-check interval while a server is stable, ms"),
            fastinter: check("fastinter", 100, 600000, "interval while a server is changing state, ms"),
            downinter: check("downinter", 100, 600000, "interval while a server is down, ms"),
            rise: check("rise", 1, 100, "good checks to mark a server up"),
            fall: check("fall", 1, 100, "failed checks to mark a server down"),
            maxconn: check("maxconn", 1, 100000, "connections per PostgreSQL server"),
        },
    },
    barman: {
        kind: "object",
        doc: "Barman",
        fields: {
            mode: {
                kind: "enum",
                values: ["streaming", "rsync"],
                default: "streaming",
                doc: 'how WAL and backups reach Barman: `"streaming"` (follows the leader, no SSH) or the seed\'s `"rsync"` over SSH with per-stack keys; see [Backups](backups.md#backups-and-point-in-time-recovery-barman). Changing it replaces the containers',
            },
            retentionPolicy: {
                kind: "text",
                default: "RECOVERY WINDOW OF 1 DAYS",
                pattern: /^(REDUNDANCY \d+|RECOVERY WINDOW OF \d+ (DAYS?|WEEKS?|MONTHS?))$/i,
                what: `"REDUNDANCY <n>" or "RECOVERY WINDOW OF <n> DAYS|WEEKS|MONTHS"`,
                doc: "Barman retention",
            },
            walRetentionPolicy: { kind: "enum", values: ["main"], default: "main", doc: "Barman's WAL retention (follows the backups)" },
            minimumRedundancy: { kind: "integer", min: 0, max: 1000, default: 1, doc: "backups Barman never deletes" },
            backupSchedule: {
                kind: "text",
                empty: "value",
                default: "0 3 * * *",
                what: `a 5-field cron expression such as "0 3 * * *" or "30 2 * * MON-FRI", or "" to disable`,
                problem: cronProblem,
                doc: 'cron (UTC) for scheduled base backups, `""` to disable; names (`MON`, `JAN`), ranges, steps and `L` work; a time missed while Barman was down is caught up when it is back',
            },
            restoreDrillSchedule: {
                kind: "text",
                empty: "value",
                default: "0 4 * * *",
                what: `a 5-field cron expression such as "0 4 * * *" or "0 5 * * SUN", or "" to disable`,
                problem: cronProblem,
                doc: 'cron (UTC) for the restore drill, `""` to disable: the newest backup is verified, recovered into a scratch directory in the Barman container (it needs as much free space as the backup), started to consistency and read in full (`pg_dumpall`), then removed; `npm run drill` runs it now',
            },
            backupDir: {
                kind: "text",
                empty: "value",
                default: "",
                // Absolute, not the root, no "." or ".." component.
                pattern: /^(\/(?!\.\.?(\/|$))[^/\0]+)+\/?$/,
                what: 'an absolute host path such as "/mnt/backups/pg" (no "." or ".." parts), or "" for the stack\'s backups volume',
                doc: `host directory for base backups and WAL instead of the \`barman-backups\` volume (another disk, an NFS mount); must exist, owned by uid ${BARMAN_UID} / gid ${BARMAN_GID} (the image's \`barman\`), mode 0700; never deleted by the stack`,
                defaultDoc: '`""` (the volume)',
            },
            backupMaxAgeHours: {
                kind: "integer",
                min: 1,
                max: 24 * 366,
                default: 26,
                doc: "the `BackupTooOld` alert fires when the newest backup began longer ago",
            },
            compression: { kind: "enum", values: ["gzip", "none"], default: "gzip", doc: "WAL compression, `gzip` or `none`" },
        },
    },
    app: {
        kind: "object",
        doc: "application",
        fields: {
            database: { kind: "text", default: "app", pattern: IDENT, what: IDENT_WHAT, doc: "application database created at bootstrap" },
            user: { kind: "text", default: "app", pattern: IDENT, what: IDENT_WHAT, doc: "application role created at bootstrap" },
        },
    },
    resources: {
        kind: "object",
        doc: "container limits",
        fields: { etcd: limits, patroni: limits, haproxy: limits, barman: limits },
    },
};

/** A stable default subnet per stack (FNV-1a of the name), so two stacks on one host differ. */
export function defaultSubnet(stack: string): string {
    let h = 0x811c9dc5;
    for (const c of Buffer.from(stack)) {
        h = Math.imul(h ^ c, 0x01000193) >>> 0;
    }
    return `10.213.${h % 256}.0/24`;
}

/** The service network's default: the same hash as defaultSubnet one block over (10.214.X), so two stacks differ there too. */
export function defaultServiceSubnet(stack: string): string {
    return defaultSubnet(stack).replace(/^10\.213\./, "10.214.");
}

/** A field's default in a context (undefined for a sparse field without one). */
export function defaultOf(field: Field, ctx: SchemaContext): unknown {
    if (field.kind === "object") {
        return field.sparse ? {} : Object.fromEntries(Object.entries(field.fields).map(([k, f]) => [k, defaultOf(f, ctx)]));
    }
    if (field.kind === "parameters") {
        return {};
    }
    const d = field.default;
    return typeof d === "function" ? (d as (c: SchemaContext) => unknown)(ctx) : d;
}

/** The configuration table (docs/configuration.md): one row per key (an object marked oneRow is one row). */
export function renderConfigTable(ctx: SchemaContext): string {
    const rows = ["| key | default | meaning |", "|---|---|---|"];
    const visit = (path: string, f: Field) => {
        if (f.kind === "object" && !f.oneRow) {
            for (const [k, child] of Object.entries(f.fields)) {
                visit(path ? `${path}.${k}` : k, child);
            }
            return;
        }
        const value = defaultOf(f, ctx);
        const shown = f.defaultDoc ?? `\`${typeof value === "string" ? value : JSON.stringify(value)}\``;
        // Ranges where they inform: counts and sizes (not ports, whose range is obvious, nor profile timings, ruled elsewhere).
        const range =
            f.kind === "integer" && !f.defaultDoc && !path.startsWith("ports.") && f.max <= 100000 ? `; ${f.min} to ${f.max}` : "";
        rows.push(`| \`${path}\` | ${shown} | ${f.doc}${range} |`);
    };
    visit("", { kind: "object", fields: SCHEMA, doc: "" });
    return rows.join("\n");
}
