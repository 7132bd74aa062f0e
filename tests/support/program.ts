// Test helper: run the real program (index.ts) under Pulumi's mock monitor and record what it declares.
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";

export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export interface Declared {
    type: string;
    name: string;
    /** Inputs as the engine received them: secrets still wrapped. */
    inputs: Record<string, unknown>;
}

export function isWrappedSecret(v: unknown): boolean {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

/** Replace secret wrappers by their values, at any depth. */
export function unwrap(v: unknown): unknown {
    if (isWrappedSecret(v)) {
        return unwrap((v as Record<string, unknown>).value);
    }
    if (Array.isArray(v)) {
        return v.map(unwrap);
    }
    if (v !== null && typeof v === "object") {
        return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, unwrap(x)]));
    }
    return v;
}

let declared: Declared[] = [];

/** Mock monitor: every resource echoes its inputs; random passwords get a fixed, recognisable value. */
export async function installMocks(stack: string, config: Record<string, unknown>): Promise<void> {
    declared = [];
    const all: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) {
        all[`patroni-ha:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    }
    pulumi.runtime.setAllConfig(all);
    await pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs) {
                declared.push({ type: args.type, name: args.name, inputs: args.inputs });
                const state: Record<string, unknown> = { ...args.inputs };
                if (args.type === "random:index/randomPassword:RandomPassword") {
                    state.result = `pw-${args.name}`;
                }
                if (args.type === "docker:index/image:Image") {
                    state.repoDigest = `sha256:${args.name}`;
                }
                if (args.type === "tls:index/privateKey:PrivateKey") {
                    state.privateKeyOpenssh = `-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-${args.name}\n-----END OPENSSH PRIVATE KEY-----\n`;
                    state.publicKeyOpenssh = `ssh-ed25519 PUB-${args.name}\n`;
                    state.privateKeyPem = `-----BEGIN EC PRIVATE KEY-----\nsecret-${args.name}\n-----END EC PRIVATE KEY-----\n`;
                }
                if (args.type === "tls:index/certRequest:CertRequest") {
                    state.certRequestPem = `-----BEGIN CERTIFICATE REQUEST-----\n${args.name}\n-----END CERTIFICATE REQUEST-----\n`;
                }
                if (
                    args.type === "tls:index/selfSignedCert:SelfSignedCert" ||
                    args.type === "tls:index/locallySignedCert:LocallySignedCert"
                ) {
                    state.certPem = `-----BEGIN CERTIFICATE-----\n${args.name}\n-----END CERTIFICATE-----\n`;
                }
                return { id: `${args.name}-id`, state };
            },
            call: () => ({}),
        },
        "patroni-ha",
        stack,
        false,
    );
}

const ROOT = path.resolve(__dirname, "..", "..");

/** Wait until the mock monitor has seen no new resource for a moment. */
async function settle(): Promise<void> {
    // Every registration the program started, including those waiting on a dependency (the rollout chain).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> }).waitForRPCs();
    let last = -1;
    while (last !== declared.length) {
        last = declared.length;
        await new Promise(r => setTimeout(r, 50));
    }
}

/** Declare resources with `declare` under fresh mocks (no program); what the mock monitor saw. */
export async function declareUnderMocks(stack: string, declare: () => void): Promise<Declared[]> {
    const formatStack = Error.prepareStackTrace;
    Error.prepareStackTrace = undefined;
    try {
        await installMocks(stack, {});
        declare();
        await settle();
        return [...declared];
    } finally {
        Error.prepareStackTrace = formatStack;
    }
}

export interface ProgramRun {
    resources: Declared[];
    /** The module's exports (stack outputs). */
    outputs: Record<string, unknown>;
    /** Resolved value and secrecy of every output. */
    resolved: Record<string, { value: unknown; secret: boolean }>;
}

/** Run index.ts fresh for a stack and config (keys without namespace). */
export async function runProgram(config: Record<string, unknown>, stack = "test"): Promise<ProgramRun> {
    // The SDK takes a stack trace for every resource and promise; ts-node's source-map formatting of those
    // traces is most of a run's time. The program's own errors read the same without it.
    const formatStack = Error.prepareStackTrace;
    Error.prepareStackTrace = undefined;
    try {
        return await runProgramOnce(config, stack);
    } finally {
        Error.prepareStackTrace = formatStack;
    }
}

async function runProgramOnce(config: Record<string, unknown>, stack: string): Promise<ProgramRun> {
    await installMocks(stack, config);
    // A fresh require of index.ts runs the program again, as `pulumi up` would in a new process. Only the
    // entry point is reloaded: nothing below it reads config at load time (config.ts's rule), and keeping
    // the dynamic provider's module keeps its object, so the SDK serializes it once per process, not per run.
    delete require.cache[require.resolve(path.join(ROOT, "index.ts"))];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const outputs = require(path.join(ROOT, "index.ts")) as Record<string, unknown>;
    const resolved: ProgramRun["resolved"] = {};
    for (const [k, v] of Object.entries(outputs)) {
        if (pulumi.Output.isInstance(v)) {
            resolved[k] = {
                value: await new Promise(r =>
                    (v as pulumi.Output<unknown>).apply(x => {
                        r(x);
                        return x;
                    }),
                ),
                secret: await pulumi.isSecret(v as pulumi.Output<unknown>),
            };
        } else {
            resolved[k] = { value: v, secret: false };
        }
    }
    await settle();
    return { resources: [...declared], outputs, resolved };
}

export function byType(run: ProgramRun, type: string): Declared[] {
    return run.resources.filter(r => r.type === type);
}

export function containers(run: ProgramRun): Declared[] {
    return byType(run, "docker:index/container:Container");
}

export function container(run: ProgramRun, dockerName: string): Declared {
    const c = containers(run).find(x => unwrap(x.inputs.name) === dockerName);
    if (!c) {
        throw new Error(
            `no container named ${dockerName}; have ${containers(run)
                .map(x => unwrap(x.inputs.name))
                .join(", ")}`,
        );
    }
    return c;
}
