import { API_PORT, BARMAN_METRICS_PORT, EXPORTER_PORT, HAPROXY_STATS_PORT, PROMETHEUS_RULES } from "./layout";
import { dumpYaml } from "./yaml";

export interface PrometheusConfigInput {
    /** Patroni members by name and address. */
    members: { name: string; address: string }[];
    haproxyAddress: string;
    exporterAddress: string;
    barmanAddress: string;
}

export const RULES_FILE = PROMETHEUS_RULES;

/** prometheus.yml: every metrics endpoint of the stack, by fixed address. */
export function renderPrometheusYml(input: PrometheusConfigInput): string {
    return dumpYaml({
        global: { scrape_interval: "15s", evaluation_interval: "15s" },
        rule_files: [RULES_FILE],
        scrape_configs: [
            {
                job_name: "patroni",
                static_configs: input.members.map(m => ({ targets: [`${m.address}:${API_PORT}`], labels: { member: m.name } })),
            },
            { job_name: "haproxy", static_configs: [{ targets: [`${input.haproxyAddress}:${HAPROXY_STATS_PORT}`] }] },
            { job_name: "postgres", static_configs: [{ targets: [`${input.exporterAddress}:${EXPORTER_PORT}`] }] },
            { job_name: "barman", static_configs: [{ targets: [`${input.barmanAddress}:${BARMAN_METRICS_PORT}`] }] },
        ],
    });
}

export interface AlertRulesInput {
    /** Replicas lagging more than this cannot take over (Patroni's maximum_lag_on_failover). */
    maximumLagOnFailover: number;
    /** Alert when the newest backup began longer ago than this. */
    backupMaxAgeSeconds: number;
}

/** Alert rules: no leader, replication lag, WAL archiving, Barman, backup age. */
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
                        "BackupTooOld",
                        `max(barman_last_backup_age_seconds) > ${input.backupMaxAgeSeconds}`,
                        "10m",
                        `The newest base backup is older than ${Math.round(input.backupMaxAgeSeconds / 3600)} h.`,
                    ),
                ],
            },
        ],
    });
}
