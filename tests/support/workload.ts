// A client-side view of availability: numbered INSERTs, each on its own connection through an endpoint.
import { Client } from "pg";
import { pg, query } from "./stack";
import { check as barmanCheck } from "../../ops/barman";

export interface Ack {
    id: number;
    /** When COMMIT returned, ms since the epoch. */
    at: number;
    /** The address of the server that acknowledged it (host(inet_server_addr())), to tell an old leader from a new one. */
    server: string;
}

export interface WriterResult {
    /** Ids whose INSERT was acknowledged (COMMIT returned). */
    acked: number[];
    /** Every acknowledgement with its time and server. */
    acks: Ack[];
    attempts: number;
    failures: number;
    /**
     * Longest time without an acknowledged write, seconds, from the writer's start to its stop. A stall
     * that ends in success counts as much as one full of errors: a client waits either way.
     */
    outageSeconds: number;
    startedAt: number;
    stoppedAt: number;
}

export interface Writer {
    stop(): Promise<WriterResult>;
    /**
     * Resolves once a write begun after `at` (ms since the epoch) is acknowledged; rejects after the timeout.
     * Waiting on this, not a fixed sleep, before stop(): an INSERT caught by a fault can hold the writer for
     * its query timeout, longer than a fast failover takes.
     */
    ackedAfter(at: number, timeoutSeconds?: number): Promise<void>;
}

export async function createTable(connectionString: string, table: string): Promise<void> {
    await query(
        connectionString,
        `CREATE TABLE IF NOT EXISTS ${table} (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    );
}

/** Start writing numbered rows until stop(); every INSERT uses a fresh connection, as a pooled app would after a reset. */
export function startWriter(connectionString: string, table: string, pauseMs = 20): Writer {
    let running = true;
    const acks: Ack[] = [];
    let attempts = 0,
        failures = 0;
    const startedAt = Date.now();
    let lastOk = startedAt,
        outage = 0;
    const loop = (async () => {
        let id = 0;
        while (running) {
            id++;
            attempts++;
            const client = new Client(pg(connectionString, { connectionTimeoutMillis: 2000, query_timeout: 5000 }));
            client.on("error", () => undefined);
            try {
                await client.connect();
                const r = await client.query<{ s: string }>(
                    `INSERT INTO ${table} (id) VALUES ($1) RETURNING host(inet_server_addr()) AS s`,
                    [id],
                );
                const now = Date.now();
                acks.push({ id, at: now, server: r.rows[0]?.s ?? "" });
                outage = Math.max(outage, now - lastOk);
                lastOk = now;
            } catch {
                failures++;
            } finally {
                // Not awaited: ending a connection to a frozen server waits until it thaws.
                void client.end().catch(() => undefined);
            }
            await new Promise(r => setTimeout(r, pauseMs));
        }
    })();
    return {
        async ackedAfter(at: number, timeoutSeconds = 60) {
            await waitFor(`a write acknowledged after ${new Date(at).toISOString()}`, timeoutSeconds, async () =>
                acks.some(a => a.at > at),
            );
        },
        async stop() {
            running = false;
            await loop;
            const stoppedAt = Date.now();
            outage = Math.max(outage, stoppedAt - lastOk);
            return { acked: acks.map(a => a.id), acks, attempts, failures, outageSeconds: outage / 1000, startedAt, stoppedAt };
        },
    };
}

/**
 * Fail unless writes were acknowledged both before `faultAt` and after `recoveredAt` (ms since the epoch):
 * a disruption test whose writes all failed would otherwise pass with nothing to lose.
 */
export function assertAckedAround(result: WriterResult, faultAt: number, recoveredAt = faultAt): void {
    const before = result.acks.filter(a => a.at < faultAt).length;
    const after = result.acks.filter(a => a.at > recoveredAt).length;
    if (before === 0 || after === 0) {
        throw new Error(
            `expected acknowledged writes before and after the disruption, got ${before} before and ${after} after ` +
                `(${result.acks.length} acknowledged, ${result.failures} of ${result.attempts} attempts failed)`,
        );
    }
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
        try {
            if (await check()) {
                return (Date.now() - start) / 1000;
            }
            last = "";
        } catch (e) {
            last = e instanceof Error ? e.message : String(e);
        }
        await new Promise(r => setTimeout(r, 250));
    }
    throw new Error(`timed out after ${timeoutSeconds} s waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** Wait until `barman check` passes; on a timeout the error names the checks still failing. */
export async function waitBarmanCheck(container: string, timeoutSeconds: number): Promise<void> {
    await waitFor("barman check to pass", timeoutSeconds, async () => {
        const r = await barmanCheck(container);
        if (!r.ok) {
            throw new Error(`still failing: ${r.failures.join("; ") || r.text.trim()}`);
        }
        return true;
    });
}
