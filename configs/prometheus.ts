import {
    CERTIFICATE_RENEW_DAYS,
    ALERTMANAGER_PORT,
    API_PORT,
    BARMAN_METRICS_PORT,
    ETCD_METRICS_PORT,
    EXPORTER_PORT,
    HAPROXY_STATS_PORT,
    PROMETHEUS_PATRONI_TARGETS,
    PROMETHEUS_RULES,
    TLS_FILES,
    VOLUME_METRICS_PORT,
    VOLUMES_DIR,
} from "./layout";
import { cronLongestGapSeconds } from "../lib/cron";
import { dumpYaml } from "./yaml";

export interface PrometheusConfigInput {
    /** etcd members by name and address (etcd serves /metrics on its client port). */
    etcd: { name: string; address: string }[];
    haproxyAddress: string;
    exporterAddress: string;
    barmanAddress: string;
    /** The volume-metrics container's address (node exporter: the data volumes' free space). */
    volumeMetricsAddress: string;
    /** The Alertmanager's address, when there is one: Prometheus sends it every alert. */
    alertmanagerAddress?: string;
}

export const RULES_FILE = PROMETHEUS_RULES;

/**
 * The Patroni members Prometheus scrapes, as a file_sd targets file (JSON): Prometheus re-reads it by itself,
 * so adding or removing a node rewrites this file (components/containerFile.ts) and replaces no container.
 */
export function renderPatroniTargets(members: { name: string; address: string }[]): string {
    return (
        JSON.stringify(
            members.map(m => ({ targets: [`${m.address}:${API_PORT}`], labels: { member: m.name } })),
            null,
            2,
        ) + "\n"
    );
}

/** prometheus.yml: every metrics endpoint of the stack, by fixed address; the Patroni members from PROMETHEUS_PATRONI_TARGETS. */
export function renderPrometheusYml(input: PrometheusConfigInput): string {
    return dumpYaml({
        global: { scrape_interval: "15s", evaluation_interval: "15s" },
        rule_files: [RULES_FILE],
        scrape_configs: [
            {
                // Patroni's REST API is HTTPS: its certificate verified against the stack CA, for the address dialled.
                job_name: "patroni",
                scheme: "https",
                tls_config: { ca_file: TLS_FILES.ca },
                // Watched by Prometheus (and re-read every 30 s): the node count changes without a reload.
                file_sd_configs: [{ files: [PROMETHEUS_PATRONI_TARGETS], refresh_interval: "30s" }],
            },
            {
                // etcd's plain metrics listener: its client port takes only the stack's certificates.
                job_name: "etcd",
                static_configs: input.etcd.map(m => ({ targets: [`${m.address}:${ETCD_METRICS_PORT}`], labels: { member: m.name } })),
            },
            {
                job_name: "haproxy",
                scheme: "https",
                tls_config: { ca_file: TLS_FILES.ca },
                static_configs: [{ targets: [`${input.haproxyAddress}:${HAPROXY_STATS_PORT}`] }],
            },
            { job_name: "postgres", static_configs: [{ targets: [`${input.exporterAddress}:${EXPORTER_PORT}`] }] },
            { job_name: "barman", static_configs: [{ targets: [`${input.barmanAddress}:${BARMAN_METRICS_PORT}`] }] },
            { job_name: "volumes", static_configs: [{ targets: [`${input.volumeMetricsAddress}:${VOLUME_METRICS_PORT}`] }] },
        ],
        ...(input.alertmanagerAddress
            ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [`${input.alertmanagerAddress}:${ALERTMANAGER_PORT}`] }] }] } }
            : {}),
    });
}

export interface AlertRulesInput {
    /** Replicas lagging more than this cannot take over (Patroni's maximum_lag_on_failover). */
    maximumLagOnFailover: number;
    /** Alert when the newest backup began longer ago than this. */
    backupMaxAgeSeconds: number;
    /** Alert when no restore drill succeeded for this long; undefined when drills are off (no such rule then). */
    restoreDrillMaxAgeSeconds?: number;
}

/**
 * How long without a successful restore drill is too long for `schedule`: its longest gap between runs
 * plus 6 hours for the drill itself and a late start (30 h for the daily default); undefined when off.
 */
export function restoreDrillMaxAge(schedule: string): number | undefined {
    return schedule.trim() ? cronLongestGapSeconds(schedule) + 6 * 3600 : undefined;
}

/** BarmanVolumeFilling and DataVolumeFilling fire below this fraction of a volume free. */
export const VOLUME_FREE_FRACTION = 0.1;

/** A replication slot holding back more WAL than this fires SlotRetentionHigh (1 GiB). */
export const SLOT_RETENTION_BYTES = 1024 ** 3;

/** Alert rules: no leader, a member or replica down, etcd, replication lag and slots, WAL archiving, Barman, backup age. */
export function renderAlertRules(input: AlertRulesInput): string {
    const rule = (alert: string, expr: string, forDuration: string, summary: string) => ({
        alert,
        expr,
        for: forDuration,
        labels: { severity: "critical" },
        annotations: { summary },
    });
    return dumpYaml({
        groups: [
            {
                name: "patroni-ha",
                rules: [
                    rule(
                        "PatroniNoLeader",
                        "sum(patroni_primary) < 1 or absent(patroni_primary)",
                        "30s",
                        "No Patroni member holds the leader lock: writes fail.",
                    ),
                    rule(
                        "PatroniMemberDown",
                        'up{job="patroni"} == 0 or patroni_postgres_running == 0',
                        "1m",
                        "A Patroni member or its PostgreSQL is down: one node fewer can take over.",
                    ),
                    rule(
                        "ReplicaNotStreaming",
                        "patroni_replica == 1 and patroni_postgres_streaming == 0",
                        "2m",
                        "A replica does not stream from the leader: it falls behind and cannot take over.",
                    ),
                    rule("EtcdMemberDown", 'up{job="etcd"} == 0', "1m", "An etcd member is unreachable."),
                    rule(
                        "EtcdQuorumAtRisk",
                        '(count(up{job="etcd"} == 1) or vector(0)) - 1 < floor(count(up{job="etcd"}) / 2) + 1 and count(up{job="etcd"}) >= 3',
                        "1m",
                        "One more etcd failure loses quorum: then no failover can happen and, past failsafe mode, the leader demotes.",
                    ),
                    rule(
                        "EtcdNoLeader",
                        "etcd_server_has_leader == 0",
                        "30s",
                        "An etcd member has no leader: the DCS is unavailable to it.",
                    ),
                    rule(
                        "SlotRetentionHigh",
                        `max by (slot_name) (pg_slot_retained_bytes) > ${SLOT_RETENTION_BYTES}`,
                        "10m",
                        "A replication slot holds back more than 1 GiB of WAL on the primary (a consumer is gone or slow): pg_wal grows.",
                    ),
                    rule(
                        "ReplicationLagHigh",
                        `max by (replica) (pg_replication_lag_bytes{replica=~"db[0-9]+"}) > ${input.maximumLagOnFailover}`,
                        "1m",
                        `A replica lags more than maximum_lag_on_failover (${input.maximumLagOnFailover} bytes) and cannot take over.`,
                    ),
                    rule(
                        "WalArchivingFailing",
                        "max(pg_archiver_failing) == 1",
                        "2m",
                        "archive_command fails on the primary: WAL piles up in pg_wal.",
                    ),
                    rule(
                        "BarmanCheckFailing",
                        "min(barman_check_ok) == 0",
                        "5m",
                        "barman check fails: backups or WAL archiving are at risk.",
                    ),
                    rule(
                        "WalArchiveGap",
                        'max(barman_wal_gaps{scope="since_newest_backup"}) > 0',
                        "1m",
                        "WAL segments are missing since the newest base backup: point-in-time recovery to now is impossible; take a base backup.",
                    ),
                    rule("BarmanDown", 'up{job="barman"} == 0', "2m", "Barman's metrics are unreachable: the container may be down."),
                    rule(
                        "CertificatesExpireSoon",
                        `min(patroni_ha_ca_certificate_expiry_timestamp_seconds) - time() < ${CERTIFICATE_RENEW_DAYS} * 86400`,
                        "10m",
                        `The stack's certificates expire in less than ${CERTIFICATE_RENEW_DAYS} days: renew them (pulumi refresh, then pulumi up; docs/security.md#rotating-certificates).`,
                    ),
                    rule(
                        "BackupTooOld",
                        `max(barman_last_backup_age_seconds) > ${input.backupMaxAgeSeconds}`,
                        "10m",
                        `The newest base backup is older than ${Math.round(input.backupMaxAgeSeconds / 3600)} h.`,
                    ),
                    rule(
                        "BarmanVolumeFilling",
                        `min by (volume) (barman_volume_available_bytes / barman_volume_size_bytes) < ${VOLUME_FREE_FRACTION}`,
                        "5m",
                        `A volume of Barman's (backups, home or the WAL hand-off share) has less than ${VOLUME_FREE_FRACTION * 100}% free: backups and WAL archiving stop when it is full, and then WAL piles up on the nodes.`,
                    ),
                    rule(
                        "DataVolumeFilling",
                        `min by (mountpoint) (node_filesystem_avail_bytes{job="volumes",mountpoint=~"${VOLUMES_DIR}/.+"} / node_filesystem_size_bytes{job="volumes",mountpoint=~"${VOLUMES_DIR}/.+"}) < ${VOLUME_FREE_FRACTION}`,
                        "5m",
                        `The filesystem holding the stack's Docker volumes (every node's PostgreSQL with its pg_wal, etcd's data, Barman's) has less than ${VOLUME_FREE_FRACTION * 100}% free: PostgreSQL stops when pg_wal cannot grow, and etcd refuses writes (then no failover) when its disk is full.`,
                    ),
                    rule(
                        "VolumeMetricsDown",
                        'up{job="volumes"} == 0',
                        "5m",
                        "The data volumes' metrics (the volume-metrics container) are unreachable: DataVolumeFilling cannot fire.",
                    ),
                    rule(
                        "BackupVerifyFailing",
                        "min(barman_last_verify_ok) == 0",
                        "1m",
                        "The newest base backup failed verification (barman check-backup / verify-backup): it may not restore; take a new one and find out why.",
                    ),
                    rule(
                        "RestoreDrillFailing",
                        "min(barman_restore_drill_ok) == 0",
                        "1m",
                        "The last restore drill failed: the newest backup did not restore and read in full (npm run drill shows why).",
                    ),
                    ...(input.restoreDrillMaxAgeSeconds === undefined
                        ? []
                        : [
                              rule(
                                  "RestoreDrillTooOld",
                                  `max(barman_restore_drill_success_age_seconds) > ${input.restoreDrillMaxAgeSeconds}`,
                                  "10m",
                                  `No restore drill has succeeded for ${Math.round(input.restoreDrillMaxAgeSeconds / 3600)} h: drills do not run (barman.restoreDrillSchedule) or keep failing.`,
                              ),
                          ]),
                ],
            },
        ],
    });
}
