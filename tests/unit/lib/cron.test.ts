import { strict as assert } from "assert";
import { cronProblem } from "../../../lib/cron";
import { CRON_SAMPLES } from "../../support/cronSamples";

describe("lib/cron: the backup schedule grammar", () => {
    for (const { expr, valid } of CRON_SAMPLES) {
        it(`${valid ? "accepts" : "refuses"} "${expr}"`, () => {
            const why = cronProblem(expr);
            assert.equal(why === undefined, valid, why ?? "accepted");
        });
    }

    it("says why, naming the field or the count", () => {
        assert.match(cronProblem("0 3 * *")!, /5 fields .* got 4/);
        assert.match(cronProblem("0 3 ? * *")!, /"\?" is not a cron field/);
        assert.match(cronProblem("61 * * * *")!, /61/);
    });
});
