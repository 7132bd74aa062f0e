// `npm run backup -- --outputs FILE`: take a Barman base backup now and print its id.
import { takeBackup } from "./barman";
import { COMMANDS, parseCommand, usage } from "./cli";
import { readOutputs, runCommand } from "./outputs";

runCommand(async () => {
    const argv = process.argv.slice(2);
    if (parseCommand(COMMANDS.backup, argv).help) {
        process.stdout.write(usage(COMMANDS.backup));
        return;
    }
    const o = readOutputs(argv, ["barmanContainer"]);
    const started = Date.now();
    process.stderr.write(`taking a base backup through ${o.barmanContainer} ...\n`);
    const id = await takeBackup(o.barmanContainer, m => process.stderr.write(`${m}\n`));
    process.stderr.write(`backup ${id} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    process.stdout.write(`${id}\n`);
});
