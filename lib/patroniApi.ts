// Patroni's REST API as the host reaches it: used by the dynamic provider (DCS config and rolling
// restarts), the operator commands, the benchmarks and the test harness. Self-contained (global fetch
// and Buffer only, no imports): Pulumi serializes it into the dynamic provider by value.

export type Json = Record<string, unknown>;

/** A member as /cluster reports it. */
export interface MemberView {
    name: string;
    role: string;
    state: string;
    host: string;
    timeline?: number;
    lag?: number | string;
    tags?: Record<string, unknown>;
}

/** A member the host can reach: its name (db<n>) and REST API URL. */
export interface MemberEndpoint {
    name: string;
    apiUrl: string;
}

export interface ApiReply {
    status: number;
    /** The body as JSON; `{ text }` when it is not JSON. */
    json: Json;
}

/** An Authorization header value for HTTP basic auth. */
export function basicAuth(user: string, password: string): string {
    return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/** One request with a JSON body (if any); never throws on an HTTP status, only on no answer. */
export async function apiRequest(
    method: string,
    url: string,
    opts: { body?: unknown; auth?: [string, string]; timeoutMs?: number } = {},
): Promise<ApiReply> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (opts.auth) {
        headers.authorization = basicAuth(opts.auth[0], opts.auth[1]);
    }
    const res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10000),
    });
    const text = await res.text();
    let json: Json = {};
    try {
        json = text ? JSON.parse(text) : {};
    } catch {
        json = { text };
    }
    return { status: res.status, json };
}

/** GET a JSON document; throws unless the status is 2xx. */
export async function getJson(url: string, timeoutMs = 4000): Promise<Json> {
    const r = await apiRequest("GET", url, { timeoutMs });
    if (r.status < 200 || r.status > 299) {
        throw new Error(`HTTP ${r.status}`);
    }
    return r.json;
}

/** The members from the first REST API that answers /cluster. */
export async function clusterMembers(apiUrls: string[], timeoutMs = 3000): Promise<MemberView[]> {
    const errors: string[] = [];
    for (const url of apiUrls) {
        try {
            return (await getJson(`${url}/cluster`, timeoutMs)).members as MemberView[];
        } catch (e) {
            errors.push(`${url}: ${e instanceof Error ? e.message : String(e)}`);
        }
    }
    throw new Error(`no Patroni REST API answered (${errors.join("; ")})`);
}

/** A member's own /patroni status ({} when it does not answer). */
export async function memberStatus(apiUrl: string, timeoutMs = 10000): Promise<Json> {
    return (await apiRequest("GET", `${apiUrl}/patroni`, { timeoutMs }).catch(() => ({ json: {} }))).json;
}

/** The primary's role in /patroni: "primary" (Patroni 4) or "master" (a Patroni 3 member while a stack rolls). */
export function isPrimaryRole(role: unknown): boolean {
    return role === "primary" || role === "master";
}

/**
 * Whether a member's PostgreSQL runs. Patroni 4's /cluster reports a replica's replication state
 * ("streaming", "in archive recovery") where Patroni 3 said "running".
 */
export function memberRunning(m: Pick<MemberView, "state">): boolean {
    return m.state === "running" || m.state === "streaming" || m.state === "in archive recovery";
}
