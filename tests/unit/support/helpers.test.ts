// The e2e port blocks: each suite owns a thousand host ports; a change here moves every suite's ports.
import { strict as assert } from "assert";
import { parseConfig } from "../../../config";
import { e2ePorts } from "../../support/helpers";

describe("e2e harness: host port blocks", () => {
    it("block 28 with Prometheus gives the 28xxx ports, and they pass the config's clash check", () => {
        const ports = e2ePorts(28, { prometheus: true });
        assert.deepEqual(ports, {
            write: 28551,
            read: 28552,
            stats: 28553,
            postgresBase: 28430,
            apiBase: 28800,
            etcdBase: 28890,
            pitr: 28554,
            metrics: 28187,
            barmanMetrics: 28780,
            sentinelMetrics: 28781,
            prometheus: 28090,
        });
        assert.equal(parseConfig({ ports, prometheus: true, patroniNodes: 9, etcdNodes: 7 }, "e2e").spec.ports.write, 28551);
        assert.equal("prometheus" in e2ePorts(27), false);
    });
});
