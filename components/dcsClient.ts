// Talks to etcd and the Patroni REST API from the machine running `pulumi up`, to seed and change the
// cluster-wide (DCS) configuration. Pulumi serializes it into the dynamic provider, so it imports only
// modules that are themselves self-contained (Node's own; a unit test serializes it); the
// e2e harness calls it directly.
import { execFile } from "child_process";
import { errorText } from "../lib/errors";
import { apiRequest, isPrimaryRole, Json, memberStatus, MemberEndpoint } from "../lib/patroniApi";

export type { MemberEndpoint };

export interface DynamicConfigState {
    /** Patroni scope and DCS namespace (with trailing slash). */
    scope: string;
    namespace: string;
    /**
     * etcd members' Docker names: etcd takes only clients with a certificate from the stack's CA and its port
     * is not published, so the DCS is reached with `docker exec -i <member> etcd-v3 <path>` (the member's
     * own certificate, over loopback inside it), as the `docker` CLI on this machine reaches the engine.
     */
    etcdContainers: string[];
    /** Members' REST API URLs reachable from the host (https). */
    members: MemberEndpoint[];
    /** The stack's CA certificate (PEM): the members' REST API certificates are verified against it. */
    caCertificate: string;
    apiUser: string;
    apiPassword: string;
    /**
     * The desired dynamic configuration: an object, so `pulumi preview` shows a change key by key (a JSON
     * string in stacks deployed by earlier versions; both are read).
     */
    config: Json | string;
    /** How long to wait for etcd/Patroni to answer, seconds. */
    timeoutSeconds: number;
}

export interface ApplyReport {
    /** "seeded": written to the DCS before bootstrap; "patched": sent to a running cluster. */
    mode: "seeded" | "patched" | "unchanged";
    /** Members restarted to apply restart-only parameters, in order. */
    restarted: string[];
}

type Log = (msg: string) => void;

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Retry `fn` until it succeeds or `timeoutSeconds` pass; polls once a second (more often under a short timeout). */
export async function retry<T>(what: string, timeoutSeconds: number, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    const pollMs = Math.min(1000, timeoutSeconds * 50);
    let last = "";
    for (;;) {
        try {
            return await fn();
        } catch (e) {
            last = errorText(e);
        }
        if (Date.now() > deadline) {
            throw new Error(`${what}: gave up after ${timeoutSeconds}s: ${last}`);
        }
        await sleep(pollMs);
    }
}

/** `docker <args...>` with `input` on stdin: its stdout (for the dynamic providers, which run in Pulumi's process). */
export function dockerStdout(args: string[], input: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = execFile("docker", args, { timeout: timeoutMs }, (err, stdout, stderr) => {
            // A plain Error: one with a numeric `.code` (as execFile gives) hangs the Pulumi SDK.
            return err ? reject(new Error((stderr || err.message).trim().slice(-500))) : resolve(stdout);
        });
        // A command that exits without reading stdin (a stopped member) must not surface as EPIPE.
        child.stdin?.on("error", () => undefined);
        child.stdin?.end(input);
    });
}

/** `docker exec -i <container> <command...>` with `input` on stdin: its stdout. */
export function dockerExecStdout(container: string, command: string[], input: string, timeoutMs: number): Promise<string> {
    return dockerStdout(["exec", "-i", container, ...command], input, timeoutMs);
}

/** etcd v3 JSON gateway of the first member that answers, over TLS inside it (see etcdContainers). */
async function etcd(state: DynamicConfigState, path: string, body: Json): Promise<Json> {
    const errors: string[] = [];
    for (const container of state.etcdContainers) {
        try {
            return JSON.parse(await dockerExecStdout(container, ["etcd-v3", path], JSON.stringify(body), 10000)) as Json;
        } catch (e) {
            errors.push(`${container}: ${errorText(e)}`);
        }
    }
    throw new Error(`no etcd member answered: ${errors.join("; ")}`);
}

function dcsKey(state: DynamicConfigState, leaf: string): string {
    return `${state.namespace}${state.scope}/${leaf}`;
}

/**
 * The PATCH that makes the keys the stack owns match `desired` and leaves every other key alone (Patroni's
 * PATCH merges; null deletes). Owned: the keys of `desired`, and those of `previous` (what the stack sent
 * last time), which are deleted when `desired` dropped them. `pause` set by `patronictl pause` and keys
 * added with `patronictl edit-config` survive. Only what differs is sent; an empty object: nothing to do.
 */
export function configPatch(current: unknown, desired: unknown, previous?: unknown): Json {
    const now = isPlain(current) ? current : {};
    const before = isPlain(previous) ? previous : {};
    const patch: Json = {};
    for (const k of Object.keys(before)) {
        if (isPlain(desired) && !(k in desired) && k in now) {
            patch[k] = null;
        }
    }
    for (const [k, v] of Object.entries(isPlain(desired) ? desired : {})) {
        if (isPlain(v) && isPlain(now[k])) {
            const inner = configPatch(now[k], v, before[k]);
            if (Object.keys(inner).length > 0) {
                patch[k] = inner;
            }
        } else if (!sameConfig(now[k], v)) {
            patch[k] = v;
        }
    }
    return patch;
}
function isPlain(v: unknown): v is Json {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A member's /patroni status, its certificate verified against `ca` ({} when it does not answer). */
export function statusOf(m: MemberEndpoint, ca?: string): Promise<Json> {
    return memberStatus(m.apiUrl, undefined, ca);
}

/**
 * Wait until the leader streams to every other running member. A replica that is "running" but has not
 * reconnected yet is still within maximum_lag_on_failover, so Patroni would accept it as a switchover or
 * failover candidate without the newest commits; never hand back a cluster in that state.
 */
export async function waitAllStreaming(members: MemberEndpoint[], timeoutSeconds: number, ca?: string): Promise<void> {
    await retry("every replica streaming from the leader", timeoutSeconds, async () => {
        const statuses = await Promise.all(members.map(async m => ({ m, s: await statusOf(m, ca) })));
        const leader = statuses.find(x => isPrimaryRole(x.s.role));
        if (!leader) {
            throw new Error("no leader");
        }
        const streaming = new Set(
            ((leader.s.replication ?? []) as Json[]).filter(r => r.state === "streaming").map(r => r.application_name),
        );
        const behind = statuses.filter(x => x !== leader && x.s.state === "running" && !streaming.has(x.m.name)).map(x => x.m.name);
        if (behind.length) {
            throw new Error(`not streaming yet: ${behind.join(", ")}`);
        }
    });
}

/**
 * Restart members with pending_restart: replicas one by one, then the leader, each back to running
 * before the next. A second pass catches replicas whose value depends on the primary's (Patroni keeps a
 * standby's max_connections and friends at least at the primary's until the primary has restarted).
 */
async function rollingRestart(state: DynamicConfigState, log: Log): Promise<string[]> {
    const restarted: string[] = [];
    const isLeader = (s: Json) => isPrimaryRole(s.role);
    for (let pass = 1; pass <= 3; pass++) {
        const statuses = await Promise.all(state.members.map(async m => ({ m, s: await statusOf(m, state.caCertificate) })));
        const pending = statuses.filter(x => x.s.pending_restart === true);
        if (pending.length === 0) {
            return restarted;
        }
        for (const { m } of [...pending.filter(x => !isLeader(x.s)), ...pending.filter(x => isLeader(x.s))]) {
            log(`restarting ${m.name} to apply restart-only parameters (pass ${pass})`);
            await retry(`restart ${m.name}`, state.timeoutSeconds, async () => {
                const r = await apiRequest("POST", `${m.apiUrl}/restart`, {
                    body: { restart_pending: true },
                    auth: [state.apiUser, state.apiPassword],
                    timeoutMs: 120000,
                    ca: state.caCertificate,
                });
                // 503 "restart is not needed" when the flag cleared meanwhile: nothing to do.
                if (r.status !== 200 && !/not needed|no restart/i.test(JSON.stringify(r.json))) {
                    throw new Error(`HTTP ${r.status} ${JSON.stringify(r.json)}`);
                }
            });
            await retry(`${m.name} running after restart`, state.timeoutSeconds, async () => {
                const s = await statusOf(m, state.caCertificate);
                if (s.state !== "running") {
                    throw new Error(`state ${s.state}`);
                }
            });
            await waitAllStreaming(state.members, state.timeoutSeconds, state.caCertificate);
            restarted.push(m.name);
        }
    }
    const still = (await Promise.all(state.members.map(async m => ({ m, s: await statusOf(m, state.caCertificate) }))))
        .filter(x => x.s.pending_restart === true)
        .map(x => x.m.name);
    if (still.length) {
        throw new Error(`still pending a restart after three passes: ${still.join(", ")}`);
    }
    return restarted;
}

/** True when every member's REST port refuses connections (no Patroni process, as opposed to a slow one). */
async function noMemberListening(members: MemberEndpoint[], ca: string): Promise<boolean> {
    const refused = await Promise.all(
        members.map(m =>
            apiRequest("GET", `${m.apiUrl}/health`, { timeoutMs: 3000, ca }).then(
                () => false,
                (e: unknown) => (e as { code?: string })?.code === "ECONNREFUSED",
            ),
        ),
    );
    return members.length > 0 && refused.every(Boolean);
}

/**
 * Make the DCS hold `state.config`. Before bootstrap (no initialize key) the config is written to etcd,
 * where Patroni reads it at start instead of bootstrap.dcs. Afterwards the keys the stack owns are PATCHed
 * (configPatch: `previousConfig` is what it sent last time, whose dropped keys are deleted) through the REST
 * API, Patroni applies it on every node within a loop, and restart-only parameters are applied by a
 * rolling restart, replicas first. No container is touched.
 */
export async function applyDynamicConfig(
    state: DynamicConfigState,
    log: Log = () => undefined,
    previousConfig?: Json | string,
): Promise<ApplyReport> {
    const desired = configObject(state.config);
    const initialized = await retry("reading the cluster state from etcd", state.timeoutSeconds, async () => {
        const r = await etcd(state, "kv/range", { key: b64(dcsKey(state, "initialize")) });
        return Array.isArray(r.kvs) && r.kvs.length > 0;
    });
    // Initialized but no Patroni listening: a stack deployed again on kept volumes (its etcd remembers the
    // cluster, its nodes are not created yet, since they wait for this resource). Patroni reads the config
    // from etcd when it starts, as before bootstrap.
    const nobodyRuns = initialized && (await noMemberListening(state.members, state.caCertificate));
    if (!initialized || nobodyRuns) {
        await retry("seeding the DCS configuration", state.timeoutSeconds, () =>
            etcd(state, "kv/put", { key: b64(dcsKey(state, "config")), value: b64(JSON.stringify(desired)) }),
        );
        log(
            nobodyRuns
                ? "wrote the DCS configuration to etcd: the cluster exists there but no member runs yet"
                : "seeded the DCS configuration before bootstrap",
        );
        return { mode: "seeded", restarted: [] };
    }
    const { member, current } = await retry("reading /config from a Patroni member", state.timeoutSeconds, async () => {
        for (const m of state.members) {
            try {
                const r = await apiRequest("GET", `${m.apiUrl}/config`, { ca: state.caCertificate });
                if (r.status === 200) {
                    return { member: m, current: r.json };
                }
            } catch {
                /* try the next member */
            }
        }
        throw new Error("no member answered");
    });
    const patch = configPatch(current, desired, previousConfig === undefined ? undefined : configObject(previousConfig));
    if (Object.keys(patch).length === 0) {
        return { mode: "unchanged", restarted: await rollingRestart(state, log) };
    }
    await retry("PATCH /config", state.timeoutSeconds, async () => {
        const r = await apiRequest("PATCH", `${member.apiUrl}/config`, {
            body: patch,
            auth: [state.apiUser, state.apiPassword],
            ca: state.caCertificate,
        });
        if (r.status !== 200) {
            throw new Error(`HTTP ${r.status} ${JSON.stringify(r.json)}`);
        }
    });
    log(`patched the DCS configuration through ${member.name}`);
    // Every member applies DCS changes on its next loop; wait two loops (old or new, whichever is longer).
    const loop = Math.max(Number(current.loop_wait ?? 10), Number(desired.loop_wait ?? 10));
    const settle = Date.now() + (2 * loop + 3) * 1000;
    while (Date.now() < settle) {
        const s = await Promise.all(state.members.map(m => statusOf(m, state.caCertificate)));
        if (s.every(x => x.pending_restart === true)) {
            break;
        }
        await sleep(1000);
    }
    return { mode: "patched", restarted: await rollingRestart(state, log) };
}

/** A dynamic configuration as an object, whether given as one or (stacks deployed before) as JSON text. */
export function configObject(config: Json | string): Json {
    return typeof config === "string" ? (JSON.parse(config) as Json) : config;
}

/**
 * What the DCS holds now for the keys `desired` sets (the stack's own), in desired's shape: a key missing
 * there is missing here. Keys the stack does not set (`pause`, an operator's edit-config) are left out, so
 * they never show as drift.
 */
export function ownedPart(current: unknown, desired: Json): Json {
    const now = isPlain(current) ? current : {};
    const out: Json = {};
    for (const [k, v] of Object.entries(desired)) {
        if (isPlain(v) && isPlain(now[k])) {
            out[k] = ownedPart(now[k], v);
        } else if (k in now) {
            out[k] = now[k];
        }
    }
    return out;
}

/**
 * The DCS configuration's keys the stack owns as they are now (for `pulumi refresh`), or undefined when no
 * member answers (a stopped stack: nothing to compare).
 */
export async function readOwnedConfig(state: DynamicConfigState): Promise<Json | undefined> {
    for (const m of state.members) {
        try {
            const r = await apiRequest("GET", `${m.apiUrl}/config`, { ca: state.caCertificate, timeoutMs: 5000 });
            if (r.status === 200) {
                return ownedPart(r.json, configObject(state.config));
            }
        } catch {
            /* try the next member */
        }
    }
    return undefined;
}

/** Deep equality of JSON values regardless of key order. */
export function sameConfig(a: unknown, b: unknown): boolean {
    if (isPlain(a) && isPlain(b)) {
        const ka = Object.keys(a).sort(),
            kb = Object.keys(b).sort();
        return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameConfig(a[k], b[k]));
    }
    if (Array.isArray(a) && Array.isArray(b)) {
        return a.length === b.length && a.every((v, i) => sameConfig(v, b[i]));
    }
    return a === b;
}
