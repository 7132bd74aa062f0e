// configs/prometheus.ts: what it renders, checked field by field.
import { strict as assert } from "assert";
import * as yaml from "js-yaml";
import { renderAlertRules } from "../../../configs/prometheus";

describe("renderers: Prometheus", () => {
    it("alert rules cover no leader, members and replicas down, etcd, lag at maximum_lag_on_failover, slots, archiving, Barman and backup age", () => {
        const rules = (
            yaml.load(renderAlertRules({ maximumLagOnFailover: 1048576, backupMaxAgeSeconds: 93600 })) as {
                groups: { rules: { alert: string; expr: string }[] }[];
            }
        ).groups[0].rules;
        const byName = Object.fromEntries(rules.map(r => [r.alert, r.expr]));
        assert.deepEqual(Object.keys(byName).sort(), [
            "BackupTooOld",
            "BarmanCheckFailing",
            "BarmanDown",
            "EtcdMemberDown",
            "EtcdNoLeader",
            "EtcdQuorumAtRisk",
            "PatroniMemberDown",
            "PatroniNoLeader",
            "ReplicaNotStreaming",
            "ReplicationLagHigh",
            "SlotRetentionHigh",
            "WalArchiveGap",
            "WalArchivingFailing",
        ]);
        assert.match(byName.ReplicationLagHigh, /> 1048576$/);
        assert.match(byName.BackupTooOld, /> 93600$/);
        assert.match(byName.SlotRetentionHigh, /> 1073741824$/);
        // Quorum at risk only where there is a quorum to lose (3+ members): one up of three fires, two up of three too.
        assert.match(byName.EtcdQuorumAtRisk, /count\(up\{job="etcd"\}\) >= 3$/);
    });
});
