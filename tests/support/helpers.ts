import { strict as assert } from "assert";
// Shared helpers for the e2e scenarios.
import { parseConfig } from "../../config";
import { PG_PORT } from "../../configs/layout";
import { basicAuth, httpRequest, memberRunning } from "../../lib/patroniApi";
import { memberEndpoints } from "../../ops/outputs";
import { docker } from "./docker";
import { removePitr } from "../../ops/pitr";
import { clusterView, Deployed, destroyStack, Member, query, StackFile, StackOutputs, waitForCluster } from "./stack";
import { waitFor, WriterResult } from "./workload";

/**
 * Host ports of an e2e or bench stack, one block of a thousand per suite: block 27 gives write 27551,
 * read 27552, stats 27553, pitr 27554, postgresBase 27430, apiBase 27800, etcdBase 27890, metrics 27187,
 * barmanMetrics 27780, sentinelMetrics 27781 and, with Prometheus, 27090.
 */
export function e2ePorts(block: number, opts: { prometheus?: boolean } = {}): Record<string, number> {
    const at = (n: number) => block * 1000 + n;
    return {
        write: at(551),
        read: at(552),
        stats: at(553),
        postgresBase: at(430),
        apiBase: at(800),
        etcdBase: at(890),
        pitr: at(554),
        metrics: at(187),
        barmanMetrics: at(780),
        sentinelMetrics: at(781),
        ...(opts.prometheus ? { prometheus: at(90) } : {}),
    };
}

/** A suite's teardown: everything stays with E2E_KEEP set; otherwise the PITR target and the stack go. */
export async function tearDown(stack: string, d: Deployed | undefined): Promise<void> {
    if (process.env.E2E_KEEP) {
        return;
    }
    if (d) {
        await removePitr(d.outputs);
    }
    await destroyStack(stack);
}

export const log = (m: string) => {
    if (process.env.E2E_VERBOSE) {
        process.stderr.write(`      [e2e] ${m}\n`);
    }
};

/** A stack config as a file would give it (Pulumi.yaml defaults are applied by parseConfig). */
export function stackFile(stack: string, config: Record<string, unknown>): StackFile {
    return { stack, config };
}

/**
 * The application role's connection string straight to db<n>'s published PostgreSQL port (pg_hba admits
 * the superuser only through HAProxy); `as: "superuser"` gives the superuser's, which pg_hba must refuse.
 */
export function directTo(d: Deployed, config: Record<string, unknown>, n: number, as: "app" | "superuser" = "app"): string {
    const member = parseConfig(config, d.stack).spec.members[n - 1];
    const through = as === "app" ? d.outputs.writeConnectionString : d.outputs.superuserConnectionString;
    return through.replace(d.outputs.writeEndpoint, member.postgresEndpoint);
}

/** One value from SQL run inside a node container as the postgres OS user over the socket (peer). */
export async function nodeSql(container: string, sql: string): Promise<string> {
    return docker(["exec", container, "psql", "-X", "-qtA", "-p", String(PG_PORT), "-d", "postgres", "-c", sql]);
}

export async function leader(o: StackOutputs): Promise<Member> {
    const members = await clusterView(o);
    const l = members.find(m => m.role === "leader");
    if (!l) {
        throw new Error(`no leader: ${JSON.stringify(members)}`);
    }
    return l;
}

/** Wait until a leader other than `not` runs and the write port reaches a primary. */
export async function waitNewLeader(o: StackOutputs, not: string, timeoutSeconds: number): Promise<Member> {
    let found: Member | undefined;
    await waitFor(`a leader other than ${not}`, timeoutSeconds, async () => {
        const l = await leader(o);
        if (l.name === not || !memberRunning(l)) {
            return false;
        }
        const [r] = await query<{ r: boolean }>(o.superuserConnectionString, "SELECT pg_is_in_recovery() AS r");
        found = l;
        return r.r === false;
    });
    return found!;
}

/** Start time of every container of a stack, to prove nothing was restarted. */
export async function containerStarts(stack: string): Promise<Record<string, string>> {
    const ids = (await docker(["ps", "-aq", "--filter", `label=patroni-ha.stack=${stack}`])).split("\n").filter(Boolean);
    const out: Record<string, string> = {};
    for (const id of ids) {
        const [name, started, restarts] = (await docker(["inspect", "-f", "{{.Name}} {{.State.StartedAt}} {{.RestartCount}}", id])).split(
            " ",
        );
        out[name.replace(/^\//, "")] = `${started} restarts=${restarts}`;
    }
    return out;
}

export async function streamingReplicas(o: StackOutputs): Promise<string[]> {
    const rows = await query<{ application_name: string }>(
        o.superuserConnectionString,
        "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' AND application_name LIKE 'db%' ORDER BY 1",
    );
    return rows.map(r => r.application_name);
}

/** HAProxy's view (stats CSV) of every server of one backend, db1 first: "UP", "DOWN" ... */
export async function haproxyStatus(o: StackOutputs, backend: string): Promise<string[]> {
    const csv = (await httpRequest("GET", `${o.statsUrl};csv`, { headers: { authorization: basicAuth(o.statsUser, o.statsPassword) } }))
        .text;
    return memberEndpoints(o).map(
        m =>
            csv
                .split("\n")
                .find(line => line.startsWith(`${backend},${m.name},`))
                ?.split(",")[17] ?? "absent",
    );
}

/**
 * Wait until `member` streams from the leader again and the cluster is whole: in synchronous mode that
 * includes a synchronous standby, without which no failover can happen (the next fault would find none).
 */
export async function waitRejoined(o: StackOutputs, member: string, timeoutSeconds: number): Promise<void> {
    await waitFor(`${member} streaming again`, timeoutSeconds, async () => (await streamingReplicas(o)).includes(member));
    await waitForCluster(o, timeoutSeconds);
}

/** Each named container's ID (`<stack>-<name>`), to tell which ones a deploy replaced. */
export async function containerIds(stack: string, names: string[]): Promise<Record<string, string>> {
    return Object.fromEntries(await Promise.all(names.map(async n => [n, await docker(["inspect", "-f", "{{.Id}}", `${stack}-${n}`])])));
}

/** A rolling deploy's write outage: under the liveness ceiling (the target is the bench's), and printed. */
export function reportRollingOutage(what: string, result: WriterResult, deploySeconds: number): void {
    assert.ok(
        result.outageSeconds < 30,
        `rolling write outage ${result.outageSeconds} s (liveness ceiling 30 s; the target is in the bench)`,
    );
    console.log(
        `      rolling replacement (${what}): write outage ${result.outageSeconds.toFixed(2)} s, ` +
            `${result.failures}/${result.attempts} attempts failed, ${deploySeconds.toFixed(1)} s for the deploy`,
    );
}
