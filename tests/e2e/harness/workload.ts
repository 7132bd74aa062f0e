// A client-side view of availability: numbered INSERTs, each on its own connection through an endpoint.
import { Client } from "pg";
import { query } from "./stack";

export interface WriterResult {
    /** Ids whose INSERT was acknowledged (COMMIT returned). */
    acked: number[];
    attempts: number;
    failures: number;
    /** Longest time without an acknowledged write after the first failure, seconds (0 if none failed). */
    outageSeconds: number;
}

export interface Writer { stop(): Promise<WriterResult> }

export async function createTable(connectionString: string, table: string): Promise<void> {
    await query(connectionString, `CREATE TABLE IF NOT EXISTS ${table} (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())`);
}

/** Start writing numbered rows until stop(); every INSERT uses a fresh connection, as a pooled app would after a reset. */
export function startWriter(connectionString: string, table: string, pauseMs = 20): Writer {
    let running = true;
    const acked: number[] = [];
    let attempts = 0, failures = 0;
    let lastOk = Date.now(), firstFailure = 0, outage = 0;
    const loop = (async () => {
        let id = 0;
        while (running) {
            id++;
            attempts++;
            const client = new Client({ connectionString, connectionTimeoutMillis: 2000, query_timeout: 5000 });
            client.on("error", () => undefined);
            try {
                await client.connect();
                await client.query(`INSERT INTO ${table} (id) VALUES ($1)`, [id]);
                acked.push(id);
                const now = Date.now();
                if (firstFailure) { outage = Math.max(outage, now - lastOk); firstFailure = 0; }
                lastOk = now;
            } catch {
                failures++;
                if (!firstFailure) { firstFailure = Date.now(); }
            } finally {
                await client.end().catch(() => undefined);
            }
            await new Promise(r => setTimeout(r, pauseMs));
        }
        if (firstFailure) { outage = Math.max(outage, Date.now() - lastOk); }
    })();
    return {
        async stop() {
            running = false;
            await loop;
            return { acked, attempts, failures, outageSeconds: outage / 1000 };
        },
    };
}

/** Acknowledged ids missing from the table (read through `connectionString`). */
export async function missingRows(connectionString: string, table: string, acked: number[]): Promise<number[]> {
    const rows = await query<{ id: string }>(connectionString, `SELECT id FROM ${table}`);
    const present = new Set(rows.map(r => Number(r.id)));
    return acked.filter(id => !present.has(id));
}

/** Wait until `check` passes, polling; returns seconds taken. */
export async function waitFor(what: string, timeoutSeconds: number, check: () => Promise<boolean>): Promise<number> {
    const start = Date.now();
    let last = "";
    while (Date.now() - start < timeoutSeconds * 1000) {
        try { if (await check()) { return (Date.now() - start) / 1000; } last = ""; } catch (e) { last = e instanceof Error ? e.message : String(e); }
        await new Promise(r => setTimeout(r, 250));
    }
    throw new Error(`timed out after ${timeoutSeconds} s waiting for ${what}${last ? `: ${last}` : ""}`);
}
