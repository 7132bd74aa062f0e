// Split-brain sampler: every round tries one direct write on every node at once; a round in which two
// nodes acknowledge a write means two writable primaries.
import { Client } from "pg";
import { pg } from "./stack";

export interface SampleTarget {
    name: string;
    /** A connection string straight to this node's PostgreSQL (not through HAProxy). */
    connectionString: string;
}

export interface SamplerResult {
    rounds: number;
    /** Rounds in which more than one node acknowledged a write. */
    doubleWritable: { at: number; nodes: string[] }[];
    /** Writes acknowledged per node. */
    acceptedBy: Record<string, number>;
}

export interface Sampler {
    stop(): Promise<SamplerResult>;
}

async function tryWrite(target: SampleTarget, table: string, round: number): Promise<boolean> {
    // Short timeouts: a frozen node must not hold a round up for long.
    const client = new Client(pg(target.connectionString, { connectionTimeoutMillis: 1000, query_timeout: 1500 }));
    client.on("error", () => undefined);
    try {
        await client.connect();
        await client.query(`INSERT INTO ${table} (node, round) VALUES ($1, $2)`, [target.name, round]);
        return true;
    } catch {
        return false;
    } finally {
        // Not awaited: ending a connection to a frozen server waits until it thaws.
        void client.end().catch(() => undefined);
    }
}

export const SAMPLER_TABLE_DDL = (table: string) =>
    `CREATE TABLE IF NOT EXISTS ${table} (node text NOT NULL, round int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`;

/** Start sampling every `everyMs` until stop(). */
export function startSampler(targets: SampleTarget[], table: string, everyMs = 200): Sampler {
    let running = true;
    const result: SamplerResult = { rounds: 0, doubleWritable: [], acceptedBy: Object.fromEntries(targets.map(t => [t.name, 0])) };
    const loop = (async () => {
        while (running) {
            const started = Date.now();
            const round = ++result.rounds;
            const accepted = await Promise.all(targets.map(t => tryWrite(t, table, round)));
            const nodes = targets.filter((_, i) => accepted[i]).map(t => t.name);
            for (const n of nodes) {
                result.acceptedBy[n]++;
            }
            if (nodes.length > 1) {
                result.doubleWritable.push({ at: started, nodes });
            }
            await new Promise(r => setTimeout(r, Math.max(0, everyMs - (Date.now() - started))));
        }
    })();
    return {
        async stop() {
            running = false;
            await loop;
            return result;
        },
    };
}
