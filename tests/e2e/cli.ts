// `npm run --silent e2e:up -- <Pulumi.<stack>.yaml>` and `npm run --silent e2e:down -- <same>`.
// Progress goes to stderr; e2e:up prints the stack outputs (secrets revealed) as the last stdout line.
import { deployStack, destroyStack, readStackFile } from "../support/stack";

async function main(): Promise<void> {
    const [command, file] = process.argv.slice(2);
    if (!["up", "down"].includes(command) || !file) {
        throw new Error("usage: e2e:up -- <path to Pulumi.<stack>.yaml>  |  e2e:down -- <path to Pulumi.<stack>.yaml>");
    }
    const stackFile = readStackFile(file);
    const log = (m: string) => process.stderr.write(`[e2e ${stackFile.stack}] ${m}\n`);
    if (command === "down") {
        const removed = await destroyStack(stackFile.stack);
        log(`removed ${removed.containers} containers, ${removed.volumes} volumes, ${removed.networks} networks`);
        return;
    }
    // A stack that is already up is changed as a second `pulumi up` would change it.
    const deployed = await deployStack(stackFile, { log, update: true });
    log(`healthy in ${deployed.timings.healthy.toFixed(1)} s (resources ${deployed.timings.resources.toFixed(1)} s)`);
    process.stdout.write(JSON.stringify(deployed.outputs) + "\n");
}

main().then(
    () => process.exit(0),
    (e: Error) => {
        process.stderr.write(`e2e: ${e.message}\n`);
        process.exit(1);
    },
);
