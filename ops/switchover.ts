// Planned switchover through Patroni's REST API, refusing a candidate that could lose commits.
import { Client } from "pg";
import { waitAllStreaming } from "../components/dcsClient";
import { apiRequest, clusterMembers, MemberView, switchoverCandidates } from "../lib/patroniApi";
import { pgConfig } from "../lib/pg";
import { memberApiUrl, memberEndpoints, StackOutputs } from "./outputs";

/** The subset of stack outputs a switchover needs. */
export type SwitchoverOutputs = Pick<
    StackOutputs,
    "patroniApiUrls" | "patroniMembers" | "patroniApiUser" | "patroniApiPassword" | "writeConnectionString" | "caCertificate"
>;

export interface SwitchoverResult {
    from: string;
    to: string;
    /** Seconds from the request until the write port reached the new leader as a primary. */
    seconds: number;
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Members as Patroni sees them, from the first REST API that answers. */
export function members(o: Pick<StackOutputs, "patroniApiUrls">): Promise<MemberView[]> {
    return clusterMembers(o.patroniApiUrls);
}

async function writePortServer(o: SwitchoverOutputs): Promise<string | undefined> {
    // The application's role: what clients see through the write port, and no more privilege than that needs.
    const client = new Client(pgConfig(o.writeConnectionString, o.caCertificate, { connectionTimeoutMillis: 1000, query_timeout: 2000 }));
    client.on("error", () => undefined);
    try {
        await client.connect();
        const r = await client.query(
            "SELECT pg_is_in_recovery() AS r, current_setting('cluster_name') AS c, inet_server_addr()::text AS a",
        );
        return r.rows[0].r ? undefined : String(r.rows[0].a);
    } catch {
        return undefined;
    } finally {
        await client.end().catch(() => undefined);
    }
}

/**
 * Switch the leadership to `to` (default: the healthiest streaming replica) and wait until the write
 * port reaches it. Refuses when the candidate is not streaming, since Patroni would accept a candidate
 * within maximum_lag_on_failover that lacks the newest commits.
 */
export async function switchover(o: SwitchoverOutputs, to?: string, timeoutSeconds = 120): Promise<SwitchoverResult> {
    const view = await members(o);
    const leader = view.find(m => m.role === "leader");
    if (!leader) {
        throw new Error("the cluster has no leader; a switchover needs one (see `npm run status`)");
    }
    const candidates = switchoverCandidates(view, leader.name);
    const synchronous = candidates.filter(m => m.role === "sync_standby" || m.role === "quorum_standby");
    const target = to ? view.find(m => m.name === to) : candidates[0];
    if (to && !target) {
        throw new Error(`no member named ${to}; members: ${view.map(m => m.name).join(", ")}`);
    }
    if (!target) {
        throw new Error("no running replica to switch over to");
    }
    if (target.name === leader.name) {
        throw new Error(`${to} already leads`);
    }
    if (synchronous.length > 0 && !candidates.includes(target)) {
        throw new Error(
            `${target.name} is not a synchronous standby; in synchronous mode Patroni switches over only to ` +
                `${candidates.map(m => m.name).join(" or ")} (or run without --to)`,
        );
    }
    if (!candidates.includes(target)) {
        throw new Error(`${target.name} is ${target.state}, not a running replica that may take over`);
    }
    await waitAllStreaming(memberEndpoints(o), Math.min(30, timeoutSeconds)).catch(e => {
        throw new Error(`refusing: ${e.message}`);
    });

    const leaderUrl = memberApiUrl(o, leader.name);
    if (!leaderUrl) {
        throw new Error(
            `the leader ${leader.name} is not among the stack's members (${memberEndpoints(o)
                .map(m => m.name)
                .join(", ")})`,
        );
    }
    const started = Date.now();
    const res = await apiRequest("POST", `${leaderUrl}/switchover`, {
        body: { leader: leader.name, candidate: target.name },
        auth: [o.patroniApiUser, o.patroniApiPassword],
        timeoutMs: timeoutSeconds * 1000,
    });
    if (res.status !== 200) {
        throw new Error(
            `Patroni refused the switchover: HTTP ${res.status} ${(typeof res.json.text === "string" ? res.json.text : JSON.stringify(res.json)).trim()}`,
        );
    }
    while (Date.now() - started < timeoutSeconds * 1000) {
        const now = await members(o).catch(() => [] as MemberView[]);
        if (now.find(m => m.role === "leader")?.name === target.name && (await writePortServer(o)) !== undefined) {
            return { from: leader.name, to: target.name, seconds: (Date.now() - started) / 1000 };
        }
        await sleep(100);
    }
    throw new Error(`the write port did not reach ${target.name} within ${timeoutSeconds} s`);
}

/** Probe the write port every 100 ms until stopped; the longest time without a primary answering. */
export function probeWritePort(o: SwitchoverOutputs): { stop(): Promise<number> } {
    let running = true,
        lastOk = Date.now(),
        worst = 0;
    const loop = (async () => {
        while (running) {
            const ok = (await writePortServer(o)) !== undefined;
            const now = Date.now();
            if (ok) {
                worst = Math.max(worst, now - lastOk);
                lastOk = now;
            }
            await sleep(100);
        }
    })();
    return {
        async stop() {
            running = false;
            await loop;
            return Math.max(worst, Date.now() - lastOk) / 1000;
        },
    };
}

if (require.main === module) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { readOutputs, runCommand } = require("./outputs") as typeof import("./outputs");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { COMMANDS, parseCommand, usage } = require("./cli") as typeof import("./cli");
    runCommand(async () => {
        const argv = process.argv.slice(2);
        if (parseCommand(COMMANDS.switchover, argv).help) {
            process.stdout.write(usage(COMMANDS.switchover));
            return;
        }
        const o = readOutputs(argv, ["patroniApiUrls", "patroniApiUser", "patroniApiPassword", "writeConnectionString", "caCertificate"]);
        const i = argv.indexOf("--to");
        const probe = probeWritePort(o);
        await sleep(300);
        const result = await switchover(o, i >= 0 ? argv[i + 1] : undefined);
        await sleep(500);
        const outage = await probe.stop();
        process.stdout.write(
            `switched over from ${result.from} to ${result.to}; the write port reached ${result.to} ` +
                `${result.seconds.toFixed(2)} s after the request; measured write outage ${outage.toFixed(2)} s\n`,
        );
    });
}
