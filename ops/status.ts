// `npm run status -- --outputs FILE [--json]`: one screen with every member, etcd, HAProxy's view and
// Barman. Exit 0 only when everything is healthy, 1 with the reasons otherwise.
import { archiveGaps, barman, check, CheckRecord, drillState, GapReport, listBackups } from "./barman";
import { COMMANDS, parseCommand, usage } from "./cli";
import { memberApiUrl, memberEndpoints, readOutputs, runCommand, StackOutputs } from "./outputs";
import { BARMAN_SERVER } from "../configs/barman";
import { CERTIFICATE_RENEW_DAYS } from "../configs/layout";
import { errorText } from "../lib/errors";
import { dockerExec } from "../lib/exec";
import { X509Certificate } from "crypto";
import { Sample, scrape, sampleValue } from "../lib/metrics";
import { basicAuth, getJson, httpRequest, memberRunning } from "../lib/patroniApi";

export interface MemberStatus {
    name: string;
    role: string;
    state: string;
    timeline?: number;
    lagBytes?: number | null;
    streaming?: boolean;
}
export interface Snapshot {
    /** Members the stack has (db1..dbN, from the outputs). */
    expected?: string[];
    members: MemberStatus[] | null;
    membersError?: string;
    maximumLagOnFailover?: number;
    etcd: { endpoint: string; healthy: boolean; error?: string }[];
    haproxy: { write: Record<string, string>; read: Record<string, string> } | null;
    haproxyError?: string;
    barman: {
        checkOk: boolean;
        failures: string[];
        gaps?: GapReport;
        lastArchivedWal?: string;
        archiverFailures?: string;
        lastBackup?: string;
        lastBackupAgeHours?: number;
        /** The newest backup's verification and the last restore drill, as Barman recorded them. */
        verify?: CheckRecord;
        drill?: CheckRecord;
    } | null;
    barmanError?: string;
    /** The failover sentinel, when the stack runs one (metricsUrls.sentinel). */
    sentinel?: SentinelStatus | null;
    sentinelError?: string;
    /** When the stack's certificates end (its CA's notAfter; every certificate was issued with it, for as long). */
    certificates?: { notAfter: string; daysLeft: number };
}

/** The end of the CA certificate's validity and the days left from `now`. */
export function certificateValidity(caPem: string, now = Date.now()): { notAfter: string; daysLeft: number } {
    const end = new Date(new X509Certificate(caPem).validTo);
    return { notAfter: end.toISOString(), daysLeft: Math.floor((end.getTime() - now) / 86400000) };
}

export interface SentinelStatus {
    /** Following the engine's events now. */
    connected: boolean;
    deaths: number;
    released: number;
    errors: number;
    /** Unix time of the last key it released (0: never). */
    lastRelease: number;
    /** From the container's death to the key's deletion, that time, seconds. */
    lastReleaseSeconds: number;
}

/**
 * Each etcd member's health: `etcdctl endpoint health` inside its container (over TLS with the member's
 * certificate: etcd's client port is not published). Outputs of a stack deployed before etcd had TLS have
 * no etcdContainers, only plain-HTTP endpoints.
 */
async function etcdHealth(o: Pick<StackOutputs, "etcdContainers" | "etcdEndpoints">): Promise<Snapshot["etcd"]> {
    if (!o.etcdContainers) {
        return Promise.all(
            (o.etcdEndpoints ?? []).map(async endpoint => {
                try {
                    const h = (await getJson(`${endpoint}/health`)) as { health?: string };
                    return { endpoint, healthy: h.health === "true" };
                } catch (e) {
                    return { endpoint, healthy: false, error: errorText(e) };
                }
            }),
        );
    }
    return Promise.all(
        o.etcdContainers.map(async endpoint => {
            const r = await dockerExec(endpoint, ["etcdctl", "--command-timeout=3s", "endpoint", "health"], {
                allowFail: true,
                timeoutMs: 8000,
            }).catch((e: unknown) => ({ code: -1, stdout: "", stderr: errorText(e) }));
            return r.code === 0
                ? { endpoint, healthy: true }
                : { endpoint, healthy: false, error: (r.stderr || r.stdout).trim().slice(-300) };
        }),
    );
}

/** The sentinel's state from its metrics. */
export async function sentinelStatus(url: string): Promise<SentinelStatus> {
    return sentinelFromSamples(await scrape(url));
}

/** The sentinel's state from samples already scraped. */
export function sentinelFromSamples(samples: Sample[]): SentinelStatus {
    const v = (name: string) => sampleValue(samples, `patroni_sentinel_${name}`) ?? 0;
    return {
        connected: v("docker_connected") === 1,
        deaths: v("member_deaths_total"),
        released: v("leader_keys_released_total"),
        errors: v("errors_total"),
        lastRelease: v("last_release_timestamp_seconds"),
        lastReleaseSeconds: v("last_release_seconds"),
    };
}

export async function collect(o: StackOutputs): Promise<Snapshot> {
    const snap: Snapshot = { expected: memberEndpoints(o).map(m => m.name), members: null, etcd: [], haproxy: null, barman: null };
    // Patroni: the cluster view from the first API that answers, streaming from the leader's walsenders.
    for (const url of o.patroniApiUrls) {
        try {
            const view = (await getJson(`${url}/cluster`)) as unknown as {
                members: { name: string; role: string; state: string; timeline?: number; lag?: number | string }[];
            };
            snap.members = view.members.map(m => ({
                name: m.name,
                role: m.role,
                state: m.state,
                timeline: m.timeline,
                lagBytes: typeof m.lag === "number" ? m.lag : m.role === "leader" ? 0 : null,
            }));
            const cfg = (await getJson(`${url}/config`).catch(() => ({}))) as { maximum_lag_on_failover?: number };
            snap.maximumLagOnFailover = cfg.maximum_lag_on_failover;
            const leader = snap.members.find(m => m.role === "leader");
            if (leader) {
                const leaderUrl = memberApiUrl(o, leader.name);
                const st = (await getJson(`${leaderUrl}/patroni`).catch(() => ({}))) as {
                    replication?: { application_name: string; state: string }[];
                };
                const streaming = new Set((st.replication ?? []).filter(r => r.state === "streaming").map(r => r.application_name));
                for (const m of snap.members) {
                    if (m !== leader) {
                        m.streaming = streaming.has(m.name);
                    }
                }
            }
            break;
        } catch (e) {
            snap.membersError = `${url}: ${errorText(e)}`;
        }
    }
    if (snap.members) {
        delete snap.membersError;
    }
    snap.etcd = await etcdHealth(o);
    if (o.caCertificate) {
        snap.certificates = certificateValidity(o.caCertificate);
    }
    try {
        // HTTPS, verified against the stack CA (trusted from the outputs).
        const r = await httpRequest("GET", `${o.statsUrl};csv`, {
            headers: { authorization: basicAuth(o.statsUser, o.statsPassword) },
            timeoutMs: 4000,
        });
        if (r.status !== 200) {
            throw new Error(`HTTP ${r.status}`);
        }
        const rows = r.text.split("\n").map(l => l.split(","));
        const backend = (name: string) =>
            Object.fromEntries(rows.filter(c => c[0] === name && !["FRONTEND", "BACKEND"].includes(c[1])).map(c => [c[1], c[17]]));
        snap.haproxy = { write: backend("primary"), read: backend("replicas") };
    } catch (e) {
        snap.haproxyError = errorText(e);
    }
    try {
        const c = await check(o.barmanContainer);
        const st = await barman(o.barmanContainer, ["status", BARMAN_SERVER]);
        const field = (name: string) => new RegExp(`^\\s*${name}:\\s*(.+)$`, "m").exec(st.stdout)?.[1]?.trim();
        const backups = (await listBackups(o.barmanContainer)).filter(b => b.status === "DONE");
        const newest = backups.sort((a, b) => b.id.localeCompare(a.id))[0];
        const end = newest?.endTime ? new Date(newest.endTime.replace(" ", "T")).getTime() : undefined;
        snap.barman = {
            checkOk: c.ok,
            failures: c.failures,
            gaps: await archiveGaps(o.barmanContainer),
            lastArchivedWal: field("Last archived WAL"),
            archiverFailures: field("Failures of WAL archiver"),
            lastBackup: newest?.id,
            lastBackupAgeHours: end ? (Date.now() - end) / 3600000 : undefined,
            ...(await drillState(o.barmanContainer)),
        };
    } catch (e) {
        snap.barmanError = errorText(e);
    }
    const sentinelUrl = o.metricsUrls?.sentinel;
    if (sentinelUrl) {
        try {
            snap.sentinel = await sentinelStatus(sentinelUrl);
        } catch (e) {
            snap.sentinel = null;
            snap.sentinelError = errorText(e);
        }
    }
    return snap;
}

/** A recorded check on one line: verdict, backup, when (and how long a drill took). */
function record(r: CheckRecord | undefined, ok: string, failed: string): string {
    if (!r) {
        return "not yet";
    }
    const ago = ((Date.now() / 1000 - r.at) / 3600).toFixed(1);
    const took = r.seconds !== undefined ? ` in ${r.seconds} s` : "";
    return `${r.ok ? ok : failed}, backup ${r.backup ?? "-"}, ${ago} h ago${took}${r.detail ? ` (${r.detail})` : ""}`;
}

/** Healthy or not, with every reason. Pure: the unit tests feed it snapshots. */
export function verdict(s: Snapshot): { ok: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!s.members) {
        reasons.push(`no Patroni REST API answered (${s.membersError ?? "unknown error"})`);
    } else {
        const leaders = s.members.filter(m => m.role === "leader");
        for (const name of s.expected ?? []) {
            if (!s.members.some(m => m.name === name)) {
                reasons.push(`${name} is stopped or unreachable (not registered in the DCS)`);
            }
        }
        if (leaders.length !== 1) {
            reasons.push(leaders.length === 0 ? "the cluster has no leader: writes fail" : `${leaders.length} leaders`);
        }
        for (const m of s.members) {
            if (!memberRunning(m)) {
                reasons.push(`${m.name} is ${m.state}`);
                continue;
            }
            if (m.role === "leader") {
                continue;
            }
            if (m.streaming === false) {
                reasons.push(`${m.name} does not stream from the leader`);
            }
            if (m.lagBytes === null || m.lagBytes === undefined) {
                reasons.push(`${m.name} lag unknown`);
            } else if (s.maximumLagOnFailover !== undefined && m.lagBytes > s.maximumLagOnFailover) {
                reasons.push(
                    `${m.name} lags ${m.lagBytes} bytes, more than maximum_lag_on_failover ${s.maximumLagOnFailover}: it cannot take over`,
                );
            }
        }
        if (s.haproxy) {
            const leader = leaders[0]?.name;
            for (const m of s.members) {
                const write = s.haproxy.write[m.name],
                    read = s.haproxy.read[m.name];
                if (m.name === leader && write !== "UP") {
                    reasons.push(`HAProxy's write backend has the leader ${m.name} ${write ?? "missing"}`);
                }
                if (m.name !== leader && write === "UP") {
                    reasons.push(`HAProxy's write backend has ${m.name} UP although it is not the leader`);
                }
                if (m.name !== leader && memberRunning(m) && read !== "UP") {
                    reasons.push(`HAProxy's read backend has replica ${m.name} ${read ?? "missing"}`);
                }
            }
        }
    }
    const sick = s.etcd.filter(e => !e.healthy);
    if (sick.length) {
        const quorum = Math.floor(s.etcd.length / 2) + 1;
        reasons.push(
            `etcd: ${sick.length} of ${s.etcd.length} members unhealthy (${sick.map(e => e.endpoint).join(", ")})${s.etcd.length - sick.length < quorum ? ": quorum LOST, no failover possible" : ""}`,
        );
    }
    if (!s.haproxy) {
        reasons.push(`HAProxy stats unreachable (${s.haproxyError})`);
    }
    if (!s.barman) {
        reasons.push(`Barman unreachable (${s.barmanError})`);
    } else {
        if (!s.barman.checkOk) {
            reasons.push(`barman check: ${s.barman.failures.join("; ") || "failed"}`);
        }
        const recent = s.barman.gaps?.sinceNewestBackup ?? [];
        if (recent.length) {
            reasons.push(
                `WAL archive has ${recent.length} missing segment(s) since the newest backup (${recent.slice(0, 3).join(", ")}${recent.length > 3 ? ", ..." : ""}): ` +
                    "point-in-time recovery cannot cross them; take a new base backup (npm run backup) to recover from then on",
            );
        }
        if (!s.barman.lastBackup) {
            reasons.push("Barman has no base backup: point-in-time recovery is impossible");
        }
        const v = s.barman.verify;
        if (v && !v.ok && v.backup === s.barman.lastBackup) {
            reasons.push(
                `the newest backup ${v.backup} failed verification (${v.detail}): take a new one (npm run backup) and find out why`,
            );
        }
        const d = s.barman.drill;
        if (d && !d.ok) {
            reasons.push(`the last restore drill (backup ${d.backup ?? "none"}) failed: ${d.detail}; npm run drill runs it again`);
        }
    }
    if (s.sentinel === null) {
        reasons.push(`the failover sentinel is unreachable (${s.sentinelError}): a dead leader is replaced only when its lease expires`);
    } else if (s.sentinel && !s.sentinel.connected) {
        reasons.push(
            "the failover sentinel does not follow the Docker engine's events: a dead leader is replaced only when its lease expires",
        );
    }
    if (s.certificates && s.certificates.daysLeft < CERTIFICATE_RENEW_DAYS) {
        reasons.push(
            `the stack's certificates ${s.certificates.daysLeft < 0 ? "expired" : `expire in ${s.certificates.daysLeft} days,`} on ${s.certificates.notAfter}: ` +
                "etcd then refuses every member and Patroni loses its DCS; renew them: pulumi refresh, then pulumi up (docs/security.md#rotating-certificates)",
        );
    }
    return { ok: reasons.length === 0, reasons };
}

export function render(s: Snapshot, v: { ok: boolean; reasons: string[] }): string {
    const lines: string[] = [];
    lines.push(v.ok ? "HEALTHY" : `UNHEALTHY (${v.reasons.length} problem${v.reasons.length > 1 ? "s" : ""})`, "");
    lines.push("Members (Patroni)");
    if (s.members) {
        lines.push("  member  role          state     timeline  lag (bytes)  streaming  HAProxy write/read");
        for (const m of s.members) {
            const hp = s.haproxy ? `${s.haproxy.write[m.name] ?? "-"}/${s.haproxy.read[m.name] ?? "-"}` : "?";
            lines.push(
                `  ${m.name.padEnd(7)} ${m.role.padEnd(13)} ${m.state.padEnd(9)} ${String(m.timeline ?? "-").padEnd(9)} ${String(m.role === "leader" ? "-" : (m.lagBytes ?? "unknown")).padEnd(12)} ${m.role === "leader" ? "-".padEnd(10) : (m.streaming ? "yes" : "NO").padEnd(10)} ${hp}`,
            );
        }
        lines.push(`  leader: ${s.members.find(m => m.role === "leader")?.name ?? "NONE"}`);
        for (const name of (s.expected ?? []).filter(n => !s.members!.some(m => m.name === n))) {
            lines.push(`  ${name.padEnd(7)} ${"-".padEnd(13)} DOWN`);
        }
    } else {
        lines.push(`  unreachable: ${s.membersError}`);
    }
    lines.push("", "etcd");
    for (const e of s.etcd) {
        lines.push(`  ${e.endpoint}  ${e.healthy ? "healthy" : `UNHEALTHY${e.error ? ` (${e.error})` : ""}`}`);
    }
    if (s.certificates) {
        lines.push("", `certificates: valid until ${s.certificates.notAfter} (${s.certificates.daysLeft} days)`);
    }
    lines.push("", "Barman");
    if (s.barman) {
        lines.push(`  barman check: ${s.barman.checkOk ? "OK" : `FAILED: ${s.barman.failures.join("; ")}`}`);
        const g = s.barman.gaps;
        lines.push(`  WAL gaps since the newest backup: ${g?.sinceNewestBackup.length ? g.sinceNewestBackup.join(", ") : "none"}`);
        const older = (g?.sinceOldestBackup ?? []).filter(x => !g?.sinceNewestBackup.includes(x));
        if (older.length) {
            lines.push(
                `  older WAL gaps: ${older.join(", ")}: backups before ${g?.newestBackup} recover only up to them; from ${g?.newestBackup} on, PITR works`,
            );
        }
        lines.push(`  last archived WAL: ${s.barman.lastArchivedWal ?? "-"}   archiver failures: ${s.barman.archiverFailures ?? "-"}`);
        lines.push(
            `  last backup: ${s.barman.lastBackup ?? "NONE"}${s.barman.lastBackupAgeHours !== undefined ? ` (${s.barman.lastBackupAgeHours.toFixed(1)} h ago)` : ""}`,
        );
        lines.push(`  verified: ${record(s.barman.verify, "OK", "FAILED")}`);
        lines.push(`  restore drill: ${record(s.barman.drill, "OK", "FAILED")}`);
    } else {
        lines.push(`  unreachable: ${s.barmanError}`);
    }
    if (s.sentinel !== undefined) {
        lines.push("", "Failover sentinel");
        const st = s.sentinel;
        if (st) {
            const last = st.lastRelease
                ? `; last ${new Date(st.lastRelease * 1000).toISOString()}, ${st.lastReleaseSeconds.toFixed(3)} s after the death`
                : "";
            lines.push(
                `  ${st.connected ? "following the engine's events" : "NOT following the engine's events"}; member deaths seen ${st.deaths}, leader keys released ${st.released}${last}; errors ${st.errors}`,
            );
        } else {
            lines.push(`  unreachable: ${s.sentinelError}`);
        }
    }
    if (!v.ok) {
        lines.push("", "Problems");
        for (const r of v.reasons) {
            lines.push(`  - ${r}`);
        }
    }
    return lines.join("\n") + "\n";
}

if (require.main === module) {
    runCommand(async () => {
        const argv = process.argv.slice(2);
        if (parseCommand(COMMANDS.status, argv).help) {
            process.stdout.write(usage(COMMANDS.status));
            return 0;
        }
        const o = readOutputs(argv, ["patroniApiUrls", "statsUrl", "statsUser", "statsPassword", "barmanContainer", "caCertificate"]);
        const s = await collect(o);
        const v = verdict(s);
        process.stdout.write(argv.includes("--json") ? JSON.stringify({ ...v, snapshot: s }, null, 2) + "\n" : render(s, v));
        return v.ok ? 0 : 1;
    });
}
