// The chaos suite's split-brain judgements on made-up outcomes: a wrong filter here would let a real
// split brain pass the suite (or fail it on the one window asynchronous mode cannot close).
import { strict as assert } from "assert";
import { ackedAfterHandover, ChaosOutcome, RESUMED_WRITABLE_MS, splitBrainRounds } from "../../support/chaos";

const LIFTED = 1_000_000;

function outcome(rounds: { at: number; nodes: string[] }[]): ChaosOutcome {
    return {
        oldLeader: "db1",
        liftedAt: LIFTED,
        faultAt: LIFTED - 30_000,
        healedAt: LIFTED + 20_000,
        sampler: { rounds: 100, doubleWritable: rounds, acceptedBy: {} },
    } as unknown as ChaosOutcome;
}

describe("chaos invariants", () => {
    const resumed = { at: LIFTED + 300, nodes: ["db1", "db3"] };

    it("synchronous modes allow no round with two writable nodes, not even a resumed old leader's", () => {
        for (const mode of ["on", "quorum", "strict"] as const) {
            assert.deepEqual(splitBrainRounds(outcome([resumed]), mode), [resumed], mode);
        }
        assert.deepEqual(splitBrainRounds(outcome([]), "on"), []);
    });

    it("asynchronous mode allows only the resumed old leader, only just after the fault is lifted", () => {
        assert.deepEqual(splitBrainRounds(outcome([resumed]), "off"), []);
        const others = { at: LIFTED + 300, nodes: ["db2", "db3"] };
        const beforeLift = { at: LIFTED - 5000, nodes: ["db1", "db3"] };
        const tooLate = { at: LIFTED + RESUMED_WRITABLE_MS + 1, nodes: ["db1", "db3"] };
        assert.deepEqual(splitBrainRounds(outcome([resumed, others, beforeLift, tooLate]), "off"), [others, beforeLift, tooLate]);
    });

    it("the write port: counts the old leader's acknowledgements after the first one from another node", () => {
        const ack = (at: number, server: string) => ({ id: at, at, server });
        const old = "10.0.0.11";
        assert.equal(ackedAfterHandover([ack(1, old), ack(2, old), ack(3, "10.0.0.13")], old), 0);
        assert.equal(ackedAfterHandover([ack(1, old), ack(3, "10.0.0.13"), ack(4, old), ack(5, old)], old), 2);
        assert.equal(ackedAfterHandover([ack(1, old), ack(2, old)], old), 0, "no handover at all");
        assert.equal(ackedAfterHandover([], old), 0);
    });
});
