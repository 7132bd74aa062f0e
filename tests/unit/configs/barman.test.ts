// configs/barman.ts: what it renders, checked field by field.
import { strict as assert } from "assert";
import { parseConfig } from "../../../config";
import { renderBarmanConf, renderBarmanServer } from "../../../configs/barman";

const spec = parseConfig({ subnet: "10.9.8.0/24" }, "dev").spec;

describe("renderers: barman", () => {
    it("global config carries retention and compression", () => {
        const conf = renderBarmanConf(spec.barman);
        assert.match(conf, /^retention_policy = RECOVERY WINDOW OF 1 DAYS$/m);
        assert.match(conf, /^wal_retention_policy = main$/m);
        assert.match(conf, /^minimum_redundancy = 1$/m);
        assert.match(conf, /^compression = gzip$/m);
        assert.doesNotMatch(renderBarmanConf({ ...spec.barman, compression: "none" }), /compression/);
    });
    it("server config reaches the leader through HAProxy's write listener", () => {
        const conf = renderBarmanServer({ stack: "dev", haproxyAddress: "10.9.8.2", mode: "streaming" });
        assert.match(conf, /^conninfo = host=10\.9\.8\.2 port=5431 user=barman /m);
        assert.match(conf, /^streaming_conninfo = host=10\.9\.8\.2 port=5431 user=streaming_barman /m);
        assert.match(conf, /^backup_method = postgres$/m);
        assert.match(conf, /^slot_name = barman$/m);
        assert.match(conf, /^streaming_archiver = on$/m);
        assert.match(conf, /^archiver = on$/m);
        assert.match(conf, /^incoming_wals_directory = \/var\/lib\/barman-wal\/incoming$/m);
        assert.doesNotMatch(conf, /password/i);
    });
});
