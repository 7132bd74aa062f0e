// Mocha's spec reporter plus a closing "N passed, N failed" line that CI logs can be read by, and each
// failure's message right where it happens (a long e2e run would otherwise show it only at the very end).
const Mocha = require("mocha");
const { EVENT_RUN_END, EVENT_TEST_FAIL } = Mocha.Runner.constants;

class SpecWithSummary extends Mocha.reporters.Spec {
    constructor(runner, options) {
        super(runner, options);
        runner.on(EVENT_TEST_FAIL, (_test, err) => {
            const message = String((err && err.message) || err)
                .split("\n")
                .slice(0, 8)
                .join(" | ");
            process.stdout.write(`      failed: ${message.slice(0, 1500)}\n`);
        });
        runner.once(EVENT_RUN_END, () => {
            const s = runner.stats;
            process.stdout.write(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
        });
    }
}
module.exports = SpecWithSummary;
