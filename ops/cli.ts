// The operator commands' flags, on Node's own `util.parseArgs` in strict mode: `--help` on each, and an
// unknown flag, a missing value or a stray argument is a usage error (exit 2) that names it.
import { parseArgs, ParseArgsConfig } from "util";
import { UsageError } from "./outputs";

interface OptionSpec {
    type: "string" | "boolean";
    description: string;
    /** The value's placeholder in --help (string options). */
    value?: string;
}

export interface CommandSpec {
    /** The npm script: `npm run <name> -- ...`. */
    name: string;
    summary: string;
    options: Record<string, OptionSpec>;
}

const OUTPUTS: Record<string, OptionSpec> = {
    stack: {
        type: "string",
        value: "NAME",
        description: "read the outputs of this stack from the local backend `npm run up` uses (default: $STACK, else dev)",
    },
    outputs: {
        type: "string",
        value: "FILE",
        description:
            "read the outputs from a file instead (`npm run --silent outputs` or `pulumi stack output --json --show-secrets`); - reads stdin",
    },
};

/** Every operator command's flags: one declaration each, read by the command and by its --help. */
export const COMMANDS = {
    status: {
        name: "status",
        summary: "one screen with every member, etcd, HAProxy's view and Barman; exit 0 only when all is healthy",
        options: { ...OUTPUTS, json: { type: "boolean", description: "print the verdict and the snapshot as JSON" } },
    },
    switchover: {
        name: "switchover",
        summary: "planned switchover to a streaming (in synchronous mode: the synchronous) replica; prints the write outage",
        options: {
            ...OUTPUTS,
            to: { type: "string", value: "MEMBER", description: "the new leader (db<n>); default: the best candidate" },
        },
    },
    backup: {
        name: "backup",
        summary: "take a Barman base backup now and print its id",
        options: { ...OUTPUTS },
    },
    drill: {
        name: "drill",
        summary: "restore drill now: verify the newest backup, recover it into a scratch copy, start it, read every row, remove it",
        options: { ...OUTPUTS },
    },
    pitr: {
        name: "pitr",
        summary: "restore a Barman backup to a point in time into a separate PostgreSQL (the pitrEndpoint output)",
        options: {
            ...OUTPUTS,
            "target-time": { type: "string", value: "TIME", description: "ISO 8601 or PostgreSQL timestamptz; no zone means UTC" },
            "target-lsn": { type: "string", value: "LSN", description: "e.g. 0/3000060" },
            "target-xid": { type: "string", value: "XID", description: "a transaction id" },
            latest: { type: "boolean", description: "the end of the archived WAL" },
            "backup-id": {
                type: "string",
                value: "ID",
                description: "restore this backup (default: the newest that ends before the target)",
            },
            remove: { type: "boolean", description: "remove the recovery PostgreSQL and its volume" },
        },
    },
} satisfies Record<string, CommandSpec>;

/** The --help text. */
export function usage(spec: CommandSpec): string {
    const flags = Object.entries(spec.options).map(([k, o]) => [`--${k}${o.value ? ` ${o.value}` : ""}`, o.description]);
    flags.push(["--help", "this text"]);
    const width = Math.max(...flags.map(([f]) => f.length));
    return [`npm run ${spec.name} -- [flags]: ${spec.summary}`, "", ...flags.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`), ""].join("\n");
}

export interface ParsedCommand {
    values: Record<string, string | boolean | undefined>;
    /** --help was given: print usage(spec) and do nothing else. */
    help: boolean;
}

/** Parse a command's argv strictly; every problem is a UsageError naming the flag and pointing at --help. */
export function parseCommand(spec: CommandSpec, argv: string[]): ParsedCommand {
    const options = Object.fromEntries([
        ...Object.entries(spec.options).map(([k, o]) => [k, { type: o.type }]),
        ["help", { type: "boolean", short: "h" }],
    ]) as ParseArgsConfig["options"];
    try {
        const values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as ParsedCommand["values"];
        return { values, help: values.help === true };
    } catch (e) {
        const message = e instanceof Error ? e.message.replace(/\. To specify a positional argument.*$/s, "") : String(e);
        throw new UsageError(`${message} (npm run ${spec.name} -- --help lists the flags)`);
    }
}
