// `npm run pitr -- --outputs FILE (--target-time "<ISO 8601>" | --target-lsn L | --target-xid X | --latest) [--backup-id ID]`
// restores the latest suitable Barman backup to that point into a separate PostgreSQL (the stack's
// `pitrEndpoint`), waits until it has reached the target, and prints its connection string last.
// `npm run pitr -- --outputs FILE --remove` removes it. The restore target shares no network or volume
// with the stack, so it never blocks `pulumi destroy` or `e2e:down`.
import { spawn } from "child_process";
import { Client } from "pg";
import { docker, execute } from "../lib/exec";
import { errorText } from "../lib/errors";
import { BARMAN_SERVER } from "../configs/barman";
import { BARMAN_HOME, PG_BIN, PG_HOME, PG_VERSION } from "../configs/layout";
import { pidsLimitFor } from "../configs/limits";
import { archivedWalNames, barman, BackupInfo, lastArchived, listBackups, switchWalAndWait } from "./barman";
import { COMMANDS, parseCommand, usage } from "./cli";
import { readOutputs, runCommand, StackOutputs, UsageError } from "./outputs";

export type PitrTarget = { time: string } | { lsn: string } | { xid: string } | { latest: true };

const RESTORE_DIR = `${BARMAN_HOME}/pitr`;
const PG15 = `${PG_HOME}/${PG_VERSION}`;
/**
 * The restored copy's own pg_hba: the cluster's admits the superuser only from HAProxy's address, and
 * this copy is reached from the host through its published port (on adminBindAddress).
 */
const PITR_HBA_FILE = `${PG15}/pitr_hba.conf`;
const PITR_HBA = ["local all all peer", "host all all all scram-sha-256"];

const TIME_FORM = /^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?)\s*(Z|z|[+-]\d\d(?::?\d\d)?)?$/;

/**
 * A recovery target time as ISO 8601 or as PostgreSQL prints a timestamptz (`2026-11-26 11:10:29.176878+00`,
 * `+05:30`, with or without fractional seconds); without a zone it means UTC. Returns the instant (ms
 * precision, for choosing a backup) and the text PostgreSQL gets (microseconds kept).
 */
export function targetTime(text: string): { at: Date; postgres: string } {
    const m = TIME_FORM.exec(text.trim());
    const form = "an ISO 8601 or PostgreSQL timestamp (e.g. 2026-11-25T22:30:00Z or 2026-11-25 22:30:00.123456+00; no zone means UTC)";
    if (!m) {
        throw new UsageError(`--target-time "${text}" is not ${form}`);
    }
    const zone =
        !m[3] || /^z$/i.test(m[3]) ? "+00:00" : /^[+-]\d\d$/.test(m[3]) ? `${m[3]}:00` : m[3].replace(/^([+-]\d\d)(\d\d)$/, "$1:$2");
    const at = new Date(`${m[1]}T${m[2]}${zone}`);
    if (Number.isNaN(at.getTime())) {
        throw new UsageError(`--target-time "${text}" is not ${form}`);
    }
    return { at, postgres: `${m[1]} ${m[2]}${zone}` };
}

/** The instant of a target time (see targetTime). */
export function parseTargetTime(text: string): Date {
    return targetTime(text).at;
}

/** The newest finished backup that ended before the target (any finished one for lsn/xid/latest). */
export function chooseBackup(backups: BackupInfo[], target: PitrTarget, backupId?: string): BackupInfo {
    const done = backups.filter(b => b.status === "DONE");
    if (backupId) {
        const b = done.find(x => x.id === backupId);
        if (!b) {
            throw new UsageError(`no finished backup ${backupId}; have ${done.map(x => x.id).join(", ") || "none"}`);
        }
        return b;
    }
    const suitable =
        "time" in target
            ? done.filter(b => b.endTime && new Date(b.endTime.replace(" ", "T")).getTime() < parseTargetTime(target.time).getTime())
            : done;
    const newest = [...suitable].sort((a, b) => b.id.localeCompare(a.id))[0];
    if (!newest) {
        throw new UsageError(
            `no finished backup ends before the target; backups: ${done.map(x => `${x.id} (ended ${x.endTime})`).join(", ") || "none"}`,
        );
    }
    return newest;
}

/** Highest timeline Barman has a history file for (recovery must follow it past failovers). */
export function latestTimeline(walNames: Set<string>, fallback: number): number {
    const tlis = [...walNames].filter(n => /^[0-9A-F]{8}\.history$/.test(n)).map(n => parseInt(n.slice(0, 8), 16));
    return Math.max(fallback, ...tlis);
}

export function names(o: Pick<StackOutputs, "barmanContainer">) {
    const stack = o.barmanContainer.replace(/-barman$/, "");
    return { stack, container: `${stack}-pitr`, volume: `${stack}-pitr-data` };
}

export async function removePitr(o: Pick<StackOutputs, "barmanContainer">): Promise<void> {
    const n = names(o);
    await docker(["rm", "-f", "-v", n.container]).catch(() => undefined);
    await docker(["volume", "rm", "-f", n.volume]).catch(() => undefined);
    await docker(["exec", o.barmanContainer, "rm", "-rf", RESTORE_DIR]).catch(() => undefined);
}

export interface PitrResult {
    connectionString: string;
    backupId: string;
    timeline: number;
    seconds: number;
}

export async function pitr(
    o: StackOutputs,
    target: PitrTarget,
    opts: { backupId?: string; log?: (m: string) => void; timeoutSeconds?: number } = {},
): Promise<PitrResult> {
    const started = Date.now();
    const log = (m: string) => (opts.log ?? (() => undefined))(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${m}`);
    const n = names(o);
    if ("time" in target && targetTime(target.time).at.getTime() > Date.now() + 1000) {
        throw new UsageError(`--target-time ${target.time} is in the future (now is ${new Date().toISOString()})`);
    }
    await removePitr(o);
    const backup = chooseBackup(await listBackups(o.barmanContainer), target, opts.backupId);
    // The WAL up to "now" must be in Barman's archive, or recovery ends before a recent target: close the
    // current segment on the leader (after a commit, so a time target has a commit record past it) and
    // wait until Barman has it.
    log("closing the current WAL segment on the leader and waiting until Barman has archived it");
    const archived = await switchWalAndWait(o.barmanContainer, 180).catch(async e => {
        const newest = await lastArchived(o.barmanContainer).catch(() => undefined);
        throw new Error(
            `the WAL up to now is not in Barman's archive, so recovery could end before the target: ${errorText(e)}; ` +
                (newest ? `the newest recoverable time is about ${newest.at} (the last archived segment, ${newest.wal}); ` : "") +
                "check `npm run status` (Barman and archiving) and retry; an older target that the archive covers still works",
        );
    });
    log(`segment ${archived.segment} archived after ${archived.seconds.toFixed(1)} s`);
    const timeline = latestTimeline(await archivedWalNames(o.barmanContainer), backup.timeline || 1);
    const targetArgs =
        "time" in target
            ? ["--target-time", targetTime(target.time).postgres]
            : "lsn" in target
              ? ["--target-lsn", target.lsn]
              : "xid" in target
                ? ["--target-xid", target.xid]
                : [];
    log(
        `recovering backup ${backup.id} (timeline ${backup.timeline}) ${targetArgs.join(" ") || "to the end of the archive"}, following timeline ${timeline}`,
    );
    const rec = await barman(o.barmanContainer, [
        "recover",
        ...targetArgs,
        "--target-tli",
        String(timeline),
        ...(targetArgs.length ? ["--target-action", "promote"] : []),
        BARMAN_SERVER,
        backup.id,
        `${RESTORE_DIR}/data`,
    ]);
    if (rec.code !== 0) {
        throw new Error(`barman recover failed: ${(rec.stderr || rec.stdout).trim().split("\n").slice(-6).join(" | ")}`);
    }
    log("backup recovered; copying it into the recovery volume");

    // Copy the recovered directory into the restore target's own volume, at the path Patroni's
    // postgresql.conf names (the data directory of the cluster it came from).
    const image = await docker(["inspect", "-f", "{{.Config.Image}}", `${n.stack}-db1`]).catch(() => `patroni-ha-patroni:${n.stack}`);
    await docker(["volume", "create", "--label", `patroni-ha.stack=${n.stack}`, "--label", "patroni-ha.role=pitr", n.volume]);
    const tar = spawn("docker", ["exec", o.barmanContainer, "tar", "-C", `${RESTORE_DIR}/data`, "-cf", "-", "."], {
        stdio: ["ignore", "pipe", "inherit"],
    });
    await docker(
        [
            "run",
            "-i",
            "--rm",
            "--user",
            "root",
            "-v",
            `${n.volume}:${PG15}`,
            "--entrypoint",
            "sh",
            image,
            "-c",
            `mkdir -p ${PG15}/data && tar -C ${PG15}/data -xf - && printf '%s\\n' ${PITR_HBA.map(l => `'${l}'`).join(" ")} > ${PITR_HBA_FILE} && ` +
                `chown -R postgres:postgres ${PG15} && chmod 0700 ${PG15}/data && chmod 0600 ${PITR_HBA_FILE}`,
        ],
        { stdin: tar.stdout },
    );
    await docker(["exec", o.barmanContainer, "rm", "-rf", RESTORE_DIR]);

    log("starting the recovery PostgreSQL and replaying WAL to the target");
    const [host, port] = splitHostPort(o.pitrEndpoint);
    await docker([
        "run",
        "-d",
        "--name",
        n.container,
        "--label",
        `patroni-ha.stack=${n.stack}`,
        "--label",
        "patroni-ha.role=pitr",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=10m",
        "--shm-size",
        "256m",
        // As the stack's own containers: an unprivileged user, no capabilities, no setuid escalation, a pids limit.
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        "--pids-limit",
        String(pidsLimitFor("patroni")),
        "-p",
        `${host === "::1" ? "[::1]" : host}:${port}:5432`,
        "-v",
        `${n.volume}:${PG15}`,
        "--user",
        "postgres",
        image,
        `${PG_BIN}/postgres`,
        "-D",
        `${PG15}/data`,
        "-c",
        "port=5432",
        "-c",
        "listen_addresses=*",
        "-c",
        "archive_mode=off",
        "-c",
        "cluster_name=pitr",
        "-c",
        `hba_file=${PITR_HBA_FILE}`,
        "-c",
        "hot_standby=on",
        "-c",
        "logging_collector=off",
        // The copy's postgresql.conf names the node's certificate files, which this container lacks. The
        // recovery instance is a short-lived tool on adminBindAddress (loopback unless configured otherwise).
        "-c",
        "ssl=off",
    ]);

    const connectionString = `postgresql://postgres:${encodeURIComponent(o.superuserPassword)}@${o.pitrEndpoint}/postgres`;
    const deadline = Date.now() + (opts.timeoutSeconds ?? 900) * 1000;
    let last = "";
    while (Date.now() < deadline) {
        const state = await docker(["inspect", "-f", "{{.State.Status}}", n.container]).catch(() => "gone");
        if (state !== "running") {
            throw new Error(`the recovery PostgreSQL stopped (${state}): ${postgresVerdict(await dockerLogs(n.container))}`);
        }
        const client = new Client({ connectionString, connectionTimeoutMillis: 2000 });
        client.on("error", () => undefined);
        try {
            await client.connect();
            const r = await client.query("SELECT pg_is_in_recovery() AS r");
            if (!r.rows[0].r) {
                return { connectionString, backupId: backup.id, timeline, seconds: (Date.now() - started) / 1000 };
            }
            last = "still replaying WAL";
        } catch (e) {
            last = errorText(e);
        } finally {
            await client.end().catch(() => undefined);
        }
        await new Promise(r => setTimeout(r, 1000));
    }
    throw new Error(`the recovery PostgreSQL did not reach the target in time (${last})`);
}

/** A stopped container's output (PostgreSQL logs to stderr there). */
async function dockerLogs(container: string): Promise<string> {
    const r = await execute("docker", ["logs", "--tail", "60", container], { allowFail: true }).catch(() => ({ stdout: "", stderr: "" }));
    return r.stdout + r.stderr;
}

/** PostgreSQL's own lines that say why a recovery stopped (FATAL, PANIC, and recovery LOG lines). */
export function postgresVerdict(logs: string): string {
    const lines = logs
        .split("\n")
        .map(l => l.trim())
        .filter(l => /\b(FATAL|PANIC):|LOG: +(recovery|redo|last completed transaction|consistent recovery)/.test(l));
    return lines.length
        ? lines.slice(-8).join(" | ")
        : `no FATAL or recovery line in its log; last lines: ${logs.trim().split("\n").slice(-5).join(" | ")}`;
}

function splitHostPort(endpoint: string): [string, number] {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(endpoint);
    if (!m) {
        throw new UsageError(`pitrEndpoint "${endpoint}" is not host:port`);
    }
    return [m[1], Number(m[2])];
}

export function parseTarget(argv: string[]): PitrTarget | undefined {
    const value = (flag: string) => {
        const i = argv.indexOf(flag);
        return i >= 0 ? argv[i + 1] : undefined;
    };
    const given = [
        ["--target-time", value("--target-time")],
        ["--target-lsn", value("--target-lsn")],
        ["--target-xid", value("--target-xid")],
        ["--latest", argv.includes("--latest") ? "yes" : undefined],
    ].filter(([, v]) => v !== undefined);
    if (given.length > 1) {
        throw new UsageError(`give one target, not ${given.map(([f]) => f).join(" and ")}`);
    }
    if (given.length === 0) {
        return undefined;
    }
    const [flag, v] = given[0] as [string, string];
    if (flag === "--target-time") {
        parseTargetTime(v);
        return { time: v };
    }
    if (flag === "--target-lsn") {
        if (!/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(v)) {
            throw new UsageError(`--target-lsn "${v}" is not an LSN such as 0/3000060`);
        }
        return { lsn: v };
    }
    if (flag === "--target-xid") {
        if (!/^\d+$/.test(v)) {
            throw new UsageError(`--target-xid "${v}" is not a transaction id`);
        }
        return { xid: v };
    }
    return { latest: true };
}

if (require.main === module) {
    runCommand(async () => {
        const argv = process.argv.slice(2);
        if (parseCommand(COMMANDS.pitr, argv).help) {
            process.stdout.write(usage(COMMANDS.pitr));
            return;
        }
        const o = readOutputs(
            argv,
            argv.includes("--remove") ? ["barmanContainer"] : ["barmanContainer", "pitrEndpoint", "superuserPassword"],
        );
        if (argv.includes("--remove")) {
            await removePitr(o);
            process.stderr.write(`removed ${names(o).container} and its volume\n`);
            return;
        }
        const target = parseTarget(argv);
        if (!target) {
            throw new UsageError('give a target: --target-time "<ISO 8601>", --target-lsn, --target-xid or --latest');
        }
        const i = argv.indexOf("--backup-id");
        const result = await pitr(o, target, { backupId: i >= 0 ? argv[i + 1] : undefined, log: m => process.stderr.write(`${m}\n`) });
        process.stderr.write(
            `restored backup ${result.backupId} following timeline ${result.timeline} in ${result.seconds.toFixed(1)} s; ` +
                `remove it with: npm run pitr -- --outputs <file> --remove\n`,
        );
        process.stdout.write(`${result.connectionString}\n`);
    });
}
