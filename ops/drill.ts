// `npm run drill -- --outputs FILE`: the restore drill now (what barman.restoreDrillSchedule runs): the
// newest backup verified, recovered into a scratch directory in the Barman container, started to
// consistency, read in full (pg_dumpall), removed. Prints the verdict; exit 1 when the backup failed it.
import { runDrill } from "./barman";
import { COMMANDS, parseCommand, usage } from "./cli";
import { readOutputs, runCommand } from "./outputs";

runCommand(async () => {
    const argv = process.argv.slice(2);
    if (parseCommand(COMMANDS.drill, argv).help) {
        process.stdout.write(usage(COMMANDS.drill));
        return;
    }
    const o = readOutputs(argv, ["barmanContainer"]);
    process.stderr.write(`restore drill in ${o.barmanContainer} ...\n`);
    const result = await runDrill(o.barmanContainer, m => process.stderr.write(`${m}\n`));
    process.stdout.write(`${result.summary}\n`);
    return result.ok ? 0 : 1;
});
