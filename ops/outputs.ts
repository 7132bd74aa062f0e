// Stack outputs for operator commands: `--outputs FILE` (or `-` for stdin) holding what
// `pulumi stack output --json --show-secrets` prints, or the last line of `npm run e2e:up`.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { memberName } from "../config";
import { errorText } from "../lib/errors";
import { MemberEndpoint, trustCa } from "../lib/patroniApi";

export interface StackOutputs {
    writeEndpoint: string;
    readEndpoint: string;
    statsUrl: string;
    statsUser: string;
    statsPassword: string;
    patroniApiUrls: string[];
    /** Members by name (stacks deployed before this output existed lack it: see memberEndpoints). */
    patroniMembers?: { name: string; apiUrl: string; postgresEndpoint: string }[];
    patroniApiUser: string;
    patroniApiPassword: string;
    /** Only when etcd is published (ports.publishEtcd). */
    etcdEndpoints?: string[];
    /** etcd members' Docker names (stacks deployed before it existed lack it). */
    etcdContainers?: string[];
    caCertificate?: string;
    /** The file the connection strings' sslrootcert names (`<stack>-ca.pem`). */
    caCertificateFile?: string;
    writeConnectionString: string;
    readConnectionString: string;
    superuserConnectionString: string;
    superuserPassword: string;
    barmanContainer: string;
    pitrEndpoint: string;
    /** `sentinel` only when the failover sentinel runs. */
    metricsUrls: { patroni: string[]; haproxy: string; postgres: string; barman: string; sentinel?: string };
    prometheusUrl?: string;
}

/**
 * Every member's name and REST API URL. From `patroniMembers`; outputs of a stack deployed before that
 * output existed have only `patroniApiUrls`, which lists db1..dbN in order.
 */
export function memberEndpoints(o: Pick<StackOutputs, "patroniApiUrls" | "patroniMembers">): MemberEndpoint[] {
    return (
        o.patroniMembers?.map(m => ({ name: m.name, apiUrl: m.apiUrl })) ??
        o.patroniApiUrls.map((apiUrl, i) => ({ name: memberName(i + 1), apiUrl }))
    );
}

/** The REST API URL of a member by name. */
export function memberApiUrl(o: Pick<StackOutputs, "patroniApiUrls" | "patroniMembers">, name: string): string | undefined {
    return memberEndpoints(o).find(m => m.name === name)?.apiUrl;
}

/** A problem the user can fix; commands print its message without a stack trace. */
export class UsageError extends Error {}

/** Parse outputs text: one JSON object, possibly spread over lines, or the last JSON line of longer output. */
export function parseOutputs(text: string, required: (keyof StackOutputs)[]): StackOutputs {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        const last = text
            .trim()
            .split("\n")
            .reverse()
            .find(l => l.trim().startsWith("{"));
        try {
            parsed = last ? JSON.parse(last) : undefined;
        } catch {
            parsed = undefined;
        }
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new UsageError(
            "the outputs are not a JSON object: give the output of `pulumi stack output --json --show-secrets` or the last line of `npm run e2e:up`",
        );
    }
    const o = parsed as Record<string, unknown>;
    const missing = required.filter(k => o[k] === undefined);
    if (missing.length) {
        throw new UsageError(`the outputs lack ${missing.join(", ")}: are they this project's stack outputs?`);
    }
    const hidden = required.filter(k => o[k] === "[secret]");
    if (hidden.length) {
        throw new UsageError(
            `${hidden.join(", ")} ${hidden.length > 1 ? "are" : "is"} shown as [secret]: run \`pulumi stack output --json --show-secrets\` to include the values`,
        );
    }
    // The stack's REST API (https) is verified against its own CA, from these outputs.
    trustCa(typeof o.caCertificate === "string" ? o.caCertificate : undefined);
    return o as unknown as StackOutputs;
}

const flag = (argv: string[], name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
};

/**
 * The stack's outputs: from `--outputs FILE|-`, or else from the stack itself (`--stack NAME`, else $STACK,
 * else dev) through the same local backend and passphrase `npm run up` uses, so no secrets file is needed.
 */
export function readOutputs(argv: string[], required: (keyof StackOutputs)[]): StackOutputs {
    const file = flag(argv, "--outputs");
    if (!file) {
        const stack = flag(argv, "--stack") ?? process.env.STACK ?? "dev";
        const r = spawnSync("bash", [path.join(__dirname, "..", "scripts", "pulumi-local.sh"), "outputs"], {
            encoding: "utf8",
            env: { ...process.env, STACK: stack },
        });
        if (r.status !== 0) {
            const why = (r.stderr || r.stdout || String(r.error ?? "")).trim().split("\n").slice(-3).join(" | ");
            throw new UsageError(
                `cannot read the outputs of stack ${stack} (${why}); give --stack NAME, or --outputs FILE for another backend`,
            );
        }
        return parseOutputs(r.stdout, required);
    }
    if (file !== "-") {
        const mode = fs.statSync(file, { throwIfNoEntry: false })?.mode;
        if (mode !== undefined && (mode & 0o077) !== 0) {
            throw new UsageError(
                `${file} is readable by other users (mode 0${(mode & 0o777).toString(8)}) and holds every password of the stack: chmod 600 ${file}`,
            );
        }
    }
    let text: string;
    try {
        text = fs.readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (e) {
        throw new UsageError(`cannot read --outputs ${file}: ${errorText(e)}`);
    }
    return parseOutputs(text, required);
}

/** Run a command's main: usage errors and failures print one clear line, exit 1 (2 for usage). */
export function runCommand(main: () => Promise<number | void>): void {
    main().then(
        code => process.exit(code ?? 0),
        (e: unknown) => {
            const msg = errorText(e);
            process.stderr.write(`error: ${msg}\n`);
            process.exit(e instanceof UsageError ? 2 : 1);
        },
    );
}
