// configs/prometheus.ts: what it renders, checked field by field.
import { strict as assert } from "assert";
import * as yaml from "js-yaml";
import { renderAlertRules, restoreDrillMaxAge } from "../../../configs/prometheus";

describe("renderers: Prometheus", () => {
    it("alert rules cover no leader, members and replicas down, etcd, lag at maximum_lag_on_failover, slots, archiving, Barman, backup age and certificates", () => {
        const rules = (
            yaml.load(
                renderAlertRules({ maximumLagOnFailover: 1048576, backupMaxAgeSeconds: 93600, restoreDrillMaxAgeSeconds: 108000 }),
            ) as {
                groups: { rules: { alert: string; expr: string }[] }[];
            }
        ).groups[0].rules;
        const byName = Object.fromEntries(rules.map(r => [r.alert, r.expr]));
        assert.deepEqual(Object.keys(byName).sort(), [
            "BackupTooOld",
            "BackupVerifyFailing",
            "BarmanCheckFailing",
            "BarmanDown",
            "BarmanVolumeFilling",
            "CertificatesExpireSoon",
            "DataVolumeFilling",
            "EtcdMemberDown",
            "EtcdNoLeader",
            "EtcdQuorumAtRisk",
            "PatroniMemberDown",
            "PatroniNoLeader",
            "ReplicaNotStreaming",
            "ReplicationLagHigh",
            "RestoreDrillFailing",
            "RestoreDrillTooOld",
            "SlotRetentionHigh",
            "VolumeMetricsDown",
            "WalArchiveGap",
            "WalArchivingFailing",
        ]);
        assert.match(byName.ReplicationLagHigh, /> 1048576$/);
        assert.equal(byName.CertificatesExpireSoon, "min(patroni_ha_ca_certificate_expiry_timestamp_seconds) - time() < 30 * 86400");
        assert.match(byName.BackupTooOld, /> 93600$/);
        assert.match(byName.RestoreDrillTooOld, /> 108000$/);
        assert.match(byName.SlotRetentionHigh, /> 1073741824$/);
        // Only the mounted data volumes, never the exporter's own root or bind mounts; 10% free, as for Barman's.
        assert.match(byName.DataVolumeFilling, /mountpoint=~"\/volumes\/\.\+"/);
        assert.match(byName.DataVolumeFilling, /< 0\.1$/);
        // Quorum at risk only where there is a quorum to lose (3+ members): one up of three fires, two up of three too.
        assert.match(byName.EtcdQuorumAtRisk, /count\(up\{job="etcd"\}\) >= 3$/);
    });

    it("the restore drill's staleness follows its schedule, and there is no such rule when drills are off", () => {
        assert.equal(restoreDrillMaxAge("0 4 * * *"), 30 * 3600, "daily: a day plus 6 hours");
        assert.equal(restoreDrillMaxAge("0 5 * * SUN"), (7 * 24 + 6) * 3600, "weekly");
        assert.equal(
            restoreDrillMaxAge("0 5 1,15 * *"),
            (17 * 24 + 6) * 3600,
            "the longest gap, not the first: 15th to the 1st of a 31-day month",
        );
        assert.equal(restoreDrillMaxAge(""), undefined);
        const off = yaml.load(renderAlertRules({ maximumLagOnFailover: 1, backupMaxAgeSeconds: 1 })) as {
            groups: { rules: { alert: string }[] }[];
        };
        const names = off.groups[0].rules.map(r => r.alert);
        assert.ok(!names.includes("RestoreDrillTooOld"));
        assert.ok(names.includes("RestoreDrillFailing"), "a drill run by hand (npm run drill) that fails still alerts");
    });
});
