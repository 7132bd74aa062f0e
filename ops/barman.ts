// Barman operations, run inside the Barman container with `docker exec`.
import { BARMAN_SERVER } from "../configs/barman";
import { BARMAN_BACKUPS } from "../configs/layout";
import { dockerExec as exec, ExecResult } from "../lib/exec";

export type { ExecResult };

/** `docker exec <container> barman ...`. */
export function barman(container: string, args: string[], timeoutMs = 30 * 60000): Promise<ExecResult> {
    return dockerExec(container, ["barman", ...args], timeoutMs);
}

/** `docker exec <container> <command...>`, never throwing on a non-zero exit. */
export function dockerExec(container: string, command: string[], timeoutMs = 60000): Promise<ExecResult> {
    return exec(container, command, { timeoutMs, allowFail: true });
}

export interface BackupInfo {
    id: string;
    status: string;
    endTime?: string;
    timeline?: number;
    beginWal?: string;
}

/** Backups, newest first, from `barman list-backups` + `show-backup`. */
export async function listBackups(container: string): Promise<BackupInfo[]> {
    const r = await barman(container, ["list-backups", "--minimal", BARMAN_SERVER]);
    if (r.code !== 0) {
        throw new Error(`barman list-backups failed: ${(r.stderr || r.stdout).trim()}`);
    }
    const ids = r.stdout
        .split("\n")
        .map(s => s.trim())
        .filter(Boolean);
    const out: BackupInfo[] = [];
    for (const id of ids) {
        const show = await barman(container, ["show-backup", BARMAN_SERVER, id]);
        const field = (name: string) => new RegExp(`^\\s*${name}\\s*:\\s*(.+)$`, "m").exec(show.stdout)?.[1]?.trim();
        out.push({
            id,
            status: field("Status") ?? "UNKNOWN",
            endTime: field("End time"),
            timeline: Number(field("Timeline") ?? NaN),
            beginWal: field("Begin WAL"),
        });
    }
    return out;
}

/** Take a base backup now and wait for the WAL it needs; returns its id. */
/** `barman check` lines that do not stop a new backup (they are what a new backup fixes, or only about age). */
const NOT_BLOCKING_A_BACKUP = /minimum redundancy requirements|backup maximum age|failed backups|wal maximum age/i;

/**
 * Wait until nothing in `barman check` stands in the way of a backup: right after a switchover or a
 * failover Barman's slot and receive-wal need a moment to follow the new leader. Reports progress;
 * fails naming what is still wrong after `timeoutSeconds`.
 */
export async function waitReadyForBackup(
    container: string,
    timeoutSeconds = 180,
    progress: (m: string) => void = () => undefined,
): Promise<void> {
    const started = Date.now();
    let last = "";
    for (;;) {
        const blocking = (await check(container)).failures.filter(l => !NOT_BLOCKING_A_BACKUP.test(l));
        if (blocking.length === 0) {
            return;
        }
        const now = blocking.join("; ");
        const elapsed = (Date.now() - started) / 1000;
        if (now !== last) {
            progress(`[${elapsed.toFixed(0)} s] waiting for Barman to follow the leader: ${now}`);
            last = now;
        }
        if (elapsed > timeoutSeconds) {
            throw new Error(`Barman is not ready for a backup after ${timeoutSeconds} s: ${now} (see \`npm run status\`)`);
        }
        await new Promise(r => setTimeout(r, 2000));
    }
}

export async function takeBackup(container: string, progress: (m: string) => void = () => undefined): Promise<string> {
    await waitReadyForBackup(container, 180, progress);
    const before = new Set((await listBackups(container)).map(b => b.id));
    // Somebody is waiting: an immediate checkpoint, not a spread one (up to 4.5 min under load, measured by the bench).
    const r = await barman(container, ["backup", "--immediate-checkpoint", "--wait", "--wait-timeout", "300", BARMAN_SERVER]);
    const after = await listBackups(container);
    const created = after.find(b => !before.has(b.id));
    if (r.code !== 0 || !created || created.status !== "DONE") {
        throw new Error(`barman backup failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split("\n").slice(-5).join(" | ")}`);
    }
    return created.id;
}

/** `barman check` verdict: ok, and the failing lines. */
export async function check(container: string): Promise<{ ok: boolean; failures: string[]; text: string }> {
    const r = await barman(container, ["check", BARMAN_SERVER]);
    const failures = r.stdout
        .split("\n")
        .filter(l => /FAILED/.test(l))
        .map(l => l.trim());
    return { ok: r.code === 0 && failures.length === 0, failures, text: r.stdout };
}

/** Names of archived WAL files (segments, .history, .backup) in Barman's archive. */
export async function archivedWalNames(container: string): Promise<Set<string>> {
    const r = await dockerExec(container, ["find", `${BARMAN_BACKUPS}/${BARMAN_SERVER}/wals`, "-type", "f"]);
    if (r.code !== 0) {
        throw new Error(`cannot list Barman's archive: ${r.stderr.trim()}`);
    }
    return new Set(
        r.stdout
            .split("\n")
            .map(l => l.slice(l.lastIndexOf("/") + 1))
            .filter(Boolean),
    );
}

/**
 * Close the current WAL segment on the primary and wait until Barman has archived it. Done by Barman's
 * own role, in its container (`barman-ha switch-wal`: a committed WAL record first, then the switch), so
 * no operator command needs the superuser for it.
 */
export async function switchWalAndWait(container: string, timeoutSeconds = 120): Promise<{ segment: string; seconds: number }> {
    const r = await dockerExec(container, ["barman-ha", "switch-wal", BARMAN_SERVER]);
    const segment = r.stdout.trim();
    if (r.code !== 0 || !/^[0-9A-F]{24}$/.test(segment)) {
        throw new Error(`barman-ha switch-wal failed: ${(r.stderr || r.stdout).trim()}`);
    }
    const started = Date.now();
    while (Date.now() - started < timeoutSeconds * 1000) {
        if ((await archivedWalNames(container)).has(segment)) {
            return { segment, seconds: (Date.now() - started) / 1000 };
        }
        await new Promise(r => setTimeout(r, 500));
    }
    throw new Error(`segment ${segment} did not reach Barman's archive within ${timeoutSeconds} s`);
}

/** WAL segments missing from Barman's archive, computed in the container by `barman-ha gaps` (one implementation). */
export interface GapReport {
    /** Missing since the oldest finished backup: recovery from an older backup cannot cross them. */
    sinceOldestBackup: string[];
    /** Missing since the newest finished backup: recovery to now is impossible until a new backup. */
    sinceNewestBackup: string[];
    newestBackup?: string;
}

export async function archiveGaps(container: string): Promise<GapReport> {
    const r = await dockerExec(container, ["barman-ha", "gaps", BARMAN_SERVER]);
    if (r.code !== 0) {
        throw new Error(`barman-ha gaps failed: ${(r.stderr || r.stdout).trim()}`);
    }
    const j = JSON.parse(r.stdout) as { since_oldest_backup: string[]; since_newest_backup: string[]; newest_backup: string | null };
    return {
        sinceOldestBackup: j.since_oldest_backup,
        sinceNewestBackup: j.since_newest_backup,
        newestBackup: j.newest_backup ?? undefined,
    };
}

/** One recorded verification or restore drill (barman-ha's state file). */
export interface CheckRecord {
    backup: string | null;
    ok: boolean;
    /** Seconds since the epoch. */
    at: number;
    /** Why it failed, or what the drill read. */
    detail: string;
    /** How long the drill took. */
    seconds?: number;
}

export interface DrillState {
    /** The newest backup's verification, and the restore drill, as last recorded. */
    verify?: CheckRecord;
    drill?: CheckRecord;
}

/** The recorded verification and drill results (`barman-ha state`). */
export async function drillState(container: string): Promise<DrillState> {
    const r = await dockerExec(container, ["barman-ha", "state"]);
    if (r.code !== 0) {
        throw new Error(`barman-ha state failed: ${(r.stderr || r.stdout).trim()}`);
    }
    const j = JSON.parse(r.stdout) as DrillState;
    return { verify: j.verify, drill: j.drill };
}

/**
 * Run the restore drill now (`barman-ha drill`): the newest backup verified, recovered into a scratch
 * directory, started to consistency, read in full, removed. Progress lines go to `progress`.
 */
export async function runDrill(
    container: string,
    progress: (m: string) => void = () => undefined,
): Promise<{ ok: boolean; summary: string }> {
    const r = await exec(container, ["barman-ha", "drill", BARMAN_SERVER], { allowFail: true, timeoutMs: 2 * 3600_000 });
    for (const line of r.stderr.split("\n").filter(Boolean)) {
        progress(line);
    }
    const summary = r.stdout.trim().split("\n").pop() ?? "";
    if (r.code === 3) {
        throw new Error("a restore drill is already running in the Barman container; try again when it has finished");
    }
    return { ok: r.code === 0, summary };
}

/** The newest archived WAL segment and when Barman archived it (`barman status`), or undefined before any. */
export async function lastArchived(container: string): Promise<{ wal: string; at: string } | undefined> {
    const r = await barman(container, ["status", BARMAN_SERVER]);
    const m = /^\s*Last archived WAL:\s*(\S+), at (.+)$/m.exec(r.stdout);
    return m ? { wal: m[1], at: m[2].trim() } : undefined;
}
