// A `promtool test rules` file for the rendered alert rules: every rule gets series that are healthy for
// the first 2.5 minutes and then fail, and must be silent at 2 minutes and firing (with the labels it is
// routed by) at 25 minutes, past every rule's `for`. tests/e2e/configs.e2e.ts runs it in the Prometheus
// image; barman.e2e.ts checks that every metric the rules name is one the live stack exports.
import * as yaml from "js-yaml";

interface RuleFault {
    /** Series as promtool reads them: `healthy` for 10 samples (15 s apart), then `failing` for 90. */
    series: { series: string; healthy: number; failing: number }[];
    /** The labels of the firing alert besides severity (the expression's output labels). */
    labels: Record<string, string>;
}

/** A fault for each rule, keyed by alert name. The thresholds are those of renderAlertRules' arguments below. */
export const RULE_FAULTS: Record<string, RuleFault> = {
    PatroniNoLeader: {
        series: [
            { series: 'patroni_primary{job="patroni",instance="db1"}', healthy: 1, failing: 0 },
            { series: 'patroni_primary{job="patroni",instance="db2"}', healthy: 0, failing: 0 },
        ],
        labels: {},
    },
    PatroniMemberDown: {
        series: [{ series: 'up{job="patroni",instance="db2"}', healthy: 1, failing: 0 }],
        labels: { job: "patroni", instance: "db2" },
    },
    ReplicaNotStreaming: {
        series: [
            { series: 'patroni_replica{job="patroni",instance="db3"}', healthy: 1, failing: 1 },
            { series: 'patroni_postgres_streaming{job="patroni",instance="db3"}', healthy: 1, failing: 0 },
        ],
        labels: { job: "patroni", instance: "db3" },
    },
    EtcdMemberDown: {
        series: [
            { series: 'up{job="etcd",instance="etcd1"}', healthy: 1, failing: 1 },
            { series: 'up{job="etcd",instance="etcd2"}', healthy: 1, failing: 0 },
            { series: 'up{job="etcd",instance="etcd3"}', healthy: 1, failing: 1 },
        ],
        labels: { job: "etcd", instance: "etcd2" },
    },
    EtcdQuorumAtRisk: { series: [], labels: {} }, // the EtcdMemberDown series: 2 of 3 up
    EtcdNoLeader: {
        series: [{ series: 'etcd_server_has_leader{job="etcd",instance="etcd1"}', healthy: 1, failing: 0 }],
        labels: { job: "etcd", instance: "etcd1" },
    },
    SlotRetentionHigh: {
        series: [{ series: 'pg_slot_retained_bytes{job="postgres",slot_name="barman"}', healthy: 16e6, failing: 2e9 }],
        labels: { slot_name: "barman" },
    },
    ReplicationLagHigh: {
        series: [{ series: 'pg_replication_lag_bytes{job="postgres",replica="db2"}', healthy: 0, failing: 5e6 }],
        labels: { replica: "db2" },
    },
    WalArchivingFailing: {
        series: [{ series: 'pg_archiver_failing{job="postgres"}', healthy: 0, failing: 1 }],
        labels: {},
    },
    BarmanCheckFailing: {
        series: [{ series: 'barman_check_ok{job="barman",server="cluster"}', healthy: 1, failing: 0 }],
        labels: {},
    },
    WalArchiveGap: {
        series: [{ series: 'barman_wal_gaps{job="barman",scope="since_newest_backup"}', healthy: 0, failing: 2 }],
        labels: {},
    },
    BarmanDown: {
        series: [{ series: 'up{job="barman",instance="barman"}', healthy: 1, failing: 0 }],
        labels: { job: "barman", instance: "barman" },
    },
    CertificatesExpireSoon: {
        // promtool's clock starts at 0: 100 days left, then 10.
        series: [{ series: 'patroni_ha_ca_certificate_expiry_timestamp_seconds{job="barman"}', healthy: 8.64e6, failing: 8.64e5 }],
        labels: {},
    },
    BackupTooOld: {
        series: [{ series: 'barman_last_backup_age_seconds{job="barman"}', healthy: 3600, failing: 2e5 }],
        labels: {},
    },
    BarmanVolumeFilling: {
        series: [
            { series: 'barman_volume_available_bytes{job="barman",volume="backups"}', healthy: 5e10, failing: 4e9 },
            { series: 'barman_volume_size_bytes{job="barman",volume="backups"}', healthy: 1e11, failing: 1e11 },
        ],
        labels: { volume: "backups" },
    },
    DataVolumeFilling: {
        series: [
            // The exporter's own root filesystem, nearly full, must not fire it: only /volumes/... counts.
            { series: 'node_filesystem_avail_bytes{job="volumes",mountpoint="/"}', healthy: 1e8, failing: 1e8 },
            { series: 'node_filesystem_size_bytes{job="volumes",mountpoint="/"}', healthy: 1e11, failing: 1e11 },
            { series: 'node_filesystem_avail_bytes{job="volumes",mountpoint="/volumes/patroni/db2"}', healthy: 5e10, failing: 9e9 },
            { series: 'node_filesystem_size_bytes{job="volumes",mountpoint="/volumes/patroni/db2"}', healthy: 1e11, failing: 1e11 },
        ],
        labels: { mountpoint: "/volumes/patroni/db2" },
    },
    VolumeMetricsDown: {
        series: [{ series: 'up{job="volumes",instance="volume-metrics"}', healthy: 1, failing: 0 }],
        labels: { job: "volumes", instance: "volume-metrics" },
    },
    BackupVerifyFailing: {
        series: [{ series: 'barman_last_verify_ok{job="barman",server="cluster"}', healthy: 1, failing: 0 }],
        labels: {},
    },
    RestoreDrillFailing: {
        series: [{ series: 'barman_restore_drill_ok{job="barman",server="cluster"}', healthy: 1, failing: 0 }],
        labels: {},
    },
    RestoreDrillTooOld: {
        series: [{ series: 'barman_restore_drill_success_age_seconds{job="barman",server="cluster"}', healthy: 3600, failing: 2e5 }],
        labels: {},
    },
};

/** The thresholds RULE_FAULTS is written for. */
export const RULE_TEST_ARGS = { maximumLagOnFailover: 1048576, backupMaxAgeSeconds: 93600, restoreDrillMaxAgeSeconds: 108000 };

/** The promtool test file for `rulesFile` (the rendered rules, whose summaries the alerts carry). */
export function renderRuleTests(rules: string, rulesFile: string): string {
    const parsed = yaml.load(rules) as {
        groups: { rules: { alert: string; labels: Record<string, string>; annotations: Record<string, string> }[] }[];
    };
    const all = parsed.groups.flatMap(g => g.rules);
    const missing = all.map(r => r.alert).filter(a => !(a in RULE_FAULTS));
    if (missing.length) {
        throw new Error(`no fault written for rules ${missing.join(", ")}`);
    }
    const series = Object.values(RULE_FAULTS).flatMap(f =>
        f.series.map(s => ({ series: s.series, values: `${s.healthy}x9 ${s.failing}x90` })),
    );
    return yaml.dump({
        rule_files: [rulesFile],
        evaluation_interval: "15s",
        tests: [
            {
                interval: "15s",
                input_series: series,
                alert_rule_test: all.flatMap(r => [
                    { eval_time: "2m", alertname: r.alert, exp_alerts: [] },
                    {
                        eval_time: "25m",
                        alertname: r.alert,
                        exp_alerts: [{ exp_labels: { ...r.labels, ...RULE_FAULTS[r.alert].labels }, exp_annotations: r.annotations }],
                    },
                ]),
            },
        ],
    });
}

/** Metric names a PromQL expression reads (for checking them against a live stack). */
export function metricNames(expr: string): string[] {
    return [...new Set([...expr.matchAll(/\b((?:patroni|pg|etcd|barman|node)_[a-z_]+|up)\b(?=\s*[{)\s])/g)].map(m => m[1]))];
}
