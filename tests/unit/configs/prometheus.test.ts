// configs/prometheus.ts: what it renders, checked field by field.
import { strict as assert } from "assert";
import * as yaml from "js-yaml";
import { renderAlertRules } from "../../../configs/prometheus";

describe("renderers: Prometheus", () => {
    it("alert rules cover no leader, replication lag at maximum_lag_on_failover, archiving, Barman and backup age", () => {
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
            "PatroniNoLeader",
            "ReplicationLagHigh",
            "WalArchiveGap",
            "WalArchivingFailing",
        ]);
        assert.match(byName.ReplicationLagHigh, /> 1048576$/);
        assert.match(byName.BackupTooOld, /> 93600$/);
    });
});
