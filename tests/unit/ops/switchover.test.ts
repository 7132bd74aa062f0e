import { strict as assert } from "assert";
import { switchover } from "../../../ops/switchover";
import { FakeCluster } from "../../support/fakeCluster";

describe("switchover: which candidates it accepts", () => {
    let c: FakeCluster;
    const outputs = () => ({
        patroniApiUrls: c.members.map(m => `${c.url}/${m.name}`),
        patroniApiUser: "patroni",
        patroniApiPassword: "secret",
        // Nothing listens there: a switchover that got as far as asking Patroni then times out waiting for the write port.
        writeConnectionString: "postgresql://app:x@127.0.0.1:9/app",
    });
    beforeEach(async () => {
        c = new FakeCluster();
        c.auth = "patroni:secret";
        c.members = [
            { name: "db1", role: "primary", pending: false, state: "running", streaming: false },
            { name: "db2", role: "replica", pending: false, state: "running", streaming: true },
            { name: "db3", role: "replica", pending: false, state: "running", streaming: true },
        ];
        await c.start();
    });
    afterEach(() => c.stop());

    it("refuses while a replica does not stream (Patroni would take a lagging candidate)", async () => {
        c.members[2].streaming = false;
        await assert.rejects(switchover(outputs(), "db2", 1), /refusing: .*not streaming yet: db3/);
        assert.ok(!c.log.some(l => l.startsWith("switchover")), "Patroni must not be asked");
    });

    it("in synchronous mode refuses a replica that is not a synchronous standby, naming the one allowed", async () => {
        c.members[2].clusterRole = "sync_standby";
        await assert.rejects(switchover(outputs(), "db2", 1), /db2 is not a synchronous standby; .* only to db3/);
        assert.ok(!c.log.some(l => l.startsWith("switchover")));
    });

    it("without --to, asks Patroni for the synchronous standby", async () => {
        c.members[2].clusterRole = "sync_standby";
        await assert.rejects(switchover(outputs(), undefined, 1), /write port did not reach db3/);
        assert.deepEqual(
            c.log.filter(l => l.startsWith("switchover")),
            ['switchover {"leader":"db1","candidate":"db3"} via db1'],
        );
    });
});
