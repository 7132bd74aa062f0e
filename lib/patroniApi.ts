// Patroni's REST API as the host reaches it: used by the dynamic provider (DCS config and rolling
// restarts), the operator commands, the benchmarks and the test harness. Self-contained (Node's http and
// https, Buffer; no local import): Pulumi serializes it into the dynamic provider by value.
import * as http from "http";
import * as https from "https";

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

/**
 * CA certificates (PEM) that an https:// REST API's certificate is verified against when a request names
 * none: the stacks whose outputs this process read (trustCa). The dynamic provider passes its CA itself.
 * Kept on the process (a registered symbol), not the module: a module loaded again (the e2e harness
 * reloads the program's modules for every deploy) must see the same list.
 */
const TRUSTED = Symbol.for("patroni-ha.trustedCas");
const trustedCas: string[] = ((globalThis as Record<symbol, string[]>)[TRUSTED] ??= []);

/** Trust a stack's CA (its caCertificate output) for every later request that names no CA. */
export function trustCa(pem: string | undefined): void {
    if (pem && !trustedCas.includes(pem)) {
        trustedCas.push(pem);
    }
}

/**
 * One HTTP(S) request: the status and the body. https:// is verified against `ca` (else the CAs trusted
 * with trustCa; with none, Node's public roots, which never sign a stack's certificate): the certificate
 * must chain to it and name the host dialled. Throws only when there is no answer (`code` kept, e.g.
 * ECONNREFUSED).
 */
export function httpRequest(
    method: string,
    url: string,
    opts: { headers?: Record<string, string>; body?: string; timeoutMs?: number; ca?: string } = {},
): Promise<{ status: number; text: string }> {
    const target = new URL(url);
    const timeoutMs = opts.timeoutMs ?? 10000;
    const headers = {
        ...(opts.headers ?? {}),
        ...(opts.body === undefined ? {} : { "content-length": String(Buffer.byteLength(opts.body)) }),
    };
    return new Promise((resolve, reject) => {
        const done = (res: http.IncomingMessage) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => (text += chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
            res.on("error", reject);
        };
        const req =
            target.protocol === "https:"
                ? https.request(
                      target,
                      { method, headers, ca: opts.ca ? [opts.ca] : trustedCas.length ? [...trustedCas] : undefined },
                      done,
                  )
                : http.request(target, { method, headers }, done);
        const timer = setTimeout(
            () => req.destroy(Object.assign(new Error(`${method} ${url}: no answer in ${timeoutMs} ms`), { code: "ETIMEDOUT" })),
            timeoutMs,
        );
        req.on("close", () => clearTimeout(timer));
        // The URL in the message: "self-signed certificate in certificate chain" alone does not say whose.
        req.on("error", (e: Error & { code?: string }) => {
            if (!e.message.includes(url)) {
                const trust = opts.ca ? "the CA given" : `${trustedCas.length} trusted CA(s)`;
                e.message = `${method} ${url}: ${e.message}${/certificate|altname/i.test(e.message) ? ` (verified against ${trust})` : ""}`;
            }
            reject(e);
        });
        req.end(opts.body);
    });
}

/** One request with a JSON body (if any); never throws on an HTTP status, only on no answer. */
export async function apiRequest(
    method: string,
    url: string,
    opts: { body?: unknown; auth?: [string, string]; timeoutMs?: number; ca?: string } = {},
): Promise<ApiReply> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (opts.auth) {
        headers.authorization = basicAuth(opts.auth[0], opts.auth[1]);
    }
    const { status, text } = await httpRequest(method, url, {
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        timeoutMs: opts.timeoutMs,
        ca: opts.ca,
    });
    let json: Json = {};
    try {
        json = text ? JSON.parse(text) : {};
    } catch {
        json = { text };
    }
    return { status, json };
}

/** GET a JSON document; throws unless the status is 2xx. */
export async function getJson(url: string, timeoutMs = 4000, ca?: string): Promise<Json> {
    const r = await apiRequest("GET", url, { timeoutMs, ca });
    if (r.status < 200 || r.status > 299) {
        throw new Error(`HTTP ${r.status}`);
    }
    return r.json;
}

/** The members from the first REST API that answers /cluster. */
export async function clusterMembers(apiUrls: string[], timeoutMs = 3000, ca?: string): Promise<MemberView[]> {
    const errors: string[] = [];
    for (const url of apiUrls) {
        try {
            return (await getJson(`${url}/cluster`, timeoutMs, ca)).members as MemberView[];
        } catch (e) {
            errors.push(`${url}: ${e instanceof Error ? e.message : String(e)}`);
        }
    }
    throw new Error(`no Patroni REST API answered (${errors.join("; ")})`);
}

/** The leader's name, from the first REST API that answers /cluster; undefined when no member leads. */
export async function leaderName(apiUrls: string[], timeoutMs = 3000, ca?: string): Promise<string | undefined> {
    return (await clusterMembers(apiUrls, timeoutMs, ca)).find(m => m.role === "leader")?.name;
}

/** A member's own /patroni status ({} when it does not answer). */
export async function memberStatus(apiUrl: string, timeoutMs = 10000, ca?: string): Promise<Json> {
    return (await apiRequest("GET", `${apiUrl}/patroni`, { timeoutMs, ca }).catch(() => ({ json: {} }))).json;
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

/**
 * Who may take over from `leader` in a planned switchover, best first (least lag): in synchronous (and
 * quorum) mode Patroni hands over only to a synchronous standby, one that has every commit; otherwise any
 * running replica not tagged nofailover.
 */
export function switchoverCandidates(view: MemberView[], leader: string): MemberView[] {
    const running = view.filter(m => m.name !== leader && memberRunning(m) && !m.tags?.nofailover);
    const synchronous = running.filter(m => m.role === "sync_standby" || m.role === "quorum_standby");
    return [...(synchronous.length > 0 ? synchronous : running)].sort((a, b) => Number(a.lag ?? 0) - Number(b.lag ?? 0));
}
