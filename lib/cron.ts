// The cron grammar of barman.backupSchedule, checked at deploy time. The Barman container runs the same
// expression with Debian's croniter; both accept standard 5-field cron with numbers, ranges, steps, lists,
// `*`, month and weekday names and `L` (last day of the month). Extensions only one of them knows (`?`,
// `#`, `H`, `@daily`, a seconds field) are refused here, so what deploys is what the container runs
// (tests/e2e/configs.e2e.ts feeds a list of expressions to both and compares their verdicts).
import { CronExpressionParser } from "cron-parser";

/** One field: numbers, `*`, `L`, three-letter names, joined by `,` `-` `/`. */
const FIELD = /^(?:[0-9*,/-]|L|[A-Za-z]{3})+$/;

/** Why `expr` is not a schedule both sides run, or undefined when it is. */
export function cronProblem(expr: string): string | undefined {
    const fields = expr.trim().split(/\s+/);
    if (fields.length !== 5) {
        return `5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`;
    }
    const odd = fields.find(f => !FIELD.test(f));
    if (odd !== undefined) {
        return `"${odd}" is not a cron field (numbers, *, ranges a-b, steps /n, lists a,b, names such as MON or JAN, L)`;
    }
    try {
        CronExpressionParser.parse(expr, { tz: "UTC" }).next();
    } catch (e) {
        return (e as Error).message;
    }
    return undefined;
}

/**
 * The longest time between two runs of `expr` over its next `runs` runs from `from` (UTC), in seconds:
 * how stale "the last scheduled run" may legitimately be.
 */
export function cronLongestGapSeconds(expr: string, from = new Date(Date.UTC(2026, 0, 1)), runs = 400): number {
    const it = CronExpressionParser.parse(expr, { tz: "UTC", currentDate: from });
    let previous = it.next().getTime(),
        longest = 0;
    for (let i = 1; i < runs; i++) {
        const next = it.next().getTime();
        longest = Math.max(longest, next - previous);
        previous = next;
    }
    return longest / 1000;
}
