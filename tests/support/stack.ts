// Deploy/destroy a stack on the local Docker engine through the real program (see engine.ts).
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { Client, ClientConfig } from "pg";
import { caCertificateFile, pgConfig } from "../../lib/pg";
import { StackOutputs as BaseOutputs } from "../../ops/outputs";
import { getJson, memberRunning, MemberView, trustCa } from "../../lib/patroniApi";
import { members } from "../../ops/switchover";
import { DynamicConfigState } from "../../components/dcsClient";
import { docker, run, sweepByLabel } from "./docker";
import { EngineState, RealEngine, unwrapSecrets } from "./engine";

export const ROOT = path.resolve(__dirname, "..", "..");

/** The program's stack outputs (one definition, shared with the operator commands). */
export type StackOutputs = BaseOutputs & { [key: string]: unknown };

export interface StackFile {
    stack: string;
    /** Config keys without namespace, Pulumi.yaml defaults applied (as the CLI does). */
    config: Record<string, unknown>;
}

/** Read Pulumi.<stack>.yaml: the stack name comes from the file name. */
export function readStackFile(file: string): StackFile {
    const m = /^Pulumi\.(.+)\.ya?ml$/.exec(path.basename(file));
    if (!m) {
        throw new Error(`${file}: expected a file named Pulumi.<stack>.yaml`);
    }
    const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const project = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, { default?: unknown }> };
    const config: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(project.config)) {
        if (v.default !== undefined) {
            config[k.replace(/^patroni-ha:/, "")] = v.default;
        }
    }
    for (const [k, v] of Object.entries(doc.config ?? {})) {
        if (!k.startsWith("patroni-ha:")) {
            continue;
        }
        config[k.slice("patroni-ha:".length)] = v;
    }
    return { stack: m[1], config };
}

export const stackLabel = (stack: string) => `patroni-ha.stack=${stack}`;

/** Remove every container, network and volume of a stack. */
/**
 * Remove a stack's containers, networks and volumes. keepVolumes: what `pulumi destroy` does with
 * retainData (the default): containers and network go, the data volumes stay.
 */
export async function destroyStack(
    stack: string,
    opts: { keepVolumes?: boolean } = {},
): Promise<{ containers: number; volumes: number; networks: number }> {
    fs.rmSync(stateFile(stack), { force: true });
    fs.rmSync(caFilePath(caCertificateFile(stack)), { force: true });
    return sweepByLabel(stackLabel(stack), opts);
}

/**
 * The harness's record of a deployed stack (what Pulumi keeps in its state): the inputs and results of
 * every resource, generated passwords included, so a second deploy can apply only the difference. In a
 * folder of the user's own (0700), the file 0600; e2e:down and destroyStack remove it.
 */
export function stateFile(stack: string): string {
    return path.join(os.homedir(), ".cache", "patroni-ha-e2e", `${stack}.json`);
}

function saveState(stack: string, state: EngineState): void {
    const file = stateFile(stack);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, JSON.stringify(state), { mode: 0o600 });
}

/** The previous deploy's state, when its record exists and the stack's containers still run. */
async function runningState(stack: string): Promise<EngineState | undefined> {
    const file = stateFile(stack);
    if (!fs.existsSync(file)) {
        return undefined;
    }
    const running = await docker(["ps", "-q", "--filter", `label=${stackLabel(stack)}`]);
    return running ? (JSON.parse(fs.readFileSync(file, "utf8")) as EngineState) : undefined;
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

export interface DeployOptions {
    log?: (msg: string) => void;
    /** Seconds to wait for a healthy cluster after the resources exist. */
    healthyTimeoutSeconds?: number;
    /** Deploy onto the stack's existing volumes (as after `pulumi destroy` with retainData) instead of fresh ones. */
    keepVolumes?: boolean;
    /**
     * A stack that is up is changed the way a second `pulumi up` changes it (see RealEngine) instead of
     * being removed and deployed afresh. Without a record of it (or with nothing running), a fresh deploy.
     */
    update?: boolean;
    /** With update: logical names of generated passwords to replace, as `pulumi up --replace <urn>` does. */
    replace?: string[];
    /** With update: read dynamic resources back first, as `pulumi up --refresh` does. */
    refresh?: boolean;
    /** Image roles (e.g. "patroni") built anew with a new image ID, as after a Dockerfile or base change. */
    rebuild?: string[];
}

export interface Deployed {
    stack: string;
    outputs: StackOutputs;
    engine: RealEngine;
    /** Seconds from start to every resource created, and to a healthy, streaming cluster. */
    timings: { resources: number; healthy: number };
}

/** The inputs the stack's PatroniDynamicConfig (the DCS configuration) was created with. */
export function deployedDcsInputs(d: Deployed): DynamicConfigState {
    const name = (d.engine.namesByType.get("pulumi-nodejs:dynamic:Resource") ?? []).find(n => n.endsWith("-dcs-config"));
    if (!name) {
        throw new Error("the stack declared no dynamic DCS configuration resource");
    }
    return d.engine.inputs.get(name) as unknown as DynamicConfigState;
}

/** Deploy a stack on the local engine, replacing whatever of it exists, and wait until it is healthy. */
export async function deployStack(file: StackFile, opts: DeployOptions = {}): Promise<Deployed> {
    const log = opts.log ?? (() => undefined);
    const started = Date.now();
    const previous = opts.update ? await runningState(file.stack) : undefined;
    if (previous) {
        log(`${file.stack} is up: applying the difference`);
    } else {
        const swept = await destroyStack(file.stack, { keepVolumes: opts.keepVolumes });
        if (swept.containers + swept.volumes + swept.networks > 0) {
            log(`removed the previous ${file.stack}: ${JSON.stringify(swept)}`);
        }
    }
    const baseImage = String(file.config.baseImage ?? "debian:bookworm-slim");
    await run("bash", [path.join(ROOT, "scripts", "ensure-base-image.sh"), baseImage], { timeoutMs: 10 * 60000 });

    const engine = new RealEngine(`patroni-ha.e2e-run=${file.stack}-${started}`, log, previous, opts.replace, opts.refresh, opts.rebuild);
    const all: Record<string, string> = {};
    for (const [k, v] of Object.entries(file.config)) {
        all[`patroni-ha:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    }
    pulumi.runtime.setAllConfig(all);
    await pulumi.runtime.setMocks(engine, "patroni-ha", file.stack, false);
    for (const key of Object.keys(require.cache)) {
        if (key.startsWith(ROOT) && !key.includes("node_modules") && !key.includes(`${path.sep}tests${path.sep}`)) {
            delete require.cache[key];
        }
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const outputsModule = require(path.join(ROOT, "index.ts")) as Record<string, unknown>;
    await engine.settled();
    await engine.deleteUndeclared();
    saveState(file.stack, engine.state());
    const outputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(outputsModule)) {
        outputs[k] = pulumi.Output.isInstance(v)
            ? await new Promise(r =>
                  (v as pulumi.Output<unknown>).apply(x => {
                      r(x);
                      return x;
                  }),
              )
            : v;
    }
    const resources = (Date.now() - started) / 1000;
    log(`resources created in ${resources.toFixed(1)} s; waiting for the cluster`);
    const out = unwrapSecrets(outputs) as StackOutputs;
    // As a client does where it runs: caCertificate saved under the name the connection strings give.
    fs.writeFileSync(caFilePath(out.caCertificateFile!), out.caCertificate!, { mode: 0o644 });
    // And its REST API's certificates trusted, as the operator commands trust the outputs' CA.
    trustCa(out.caCertificate);
    await waitForCluster(out, opts.healthyTimeoutSeconds ?? 300, log);
    return { stack: file.stack, outputs: out, engine, timings: { resources, healthy: (Date.now() - started) / 1000 } };
}

export type Member = MemberView;

/** Members as Patroni reports them (the operator commands' own view). */
export const clusterView = (outputs: StackOutputs): Promise<Member[]> => members(outputs);

/** Where the harness keeps a stack's CA file (`caCertificateFile`: the connection strings' sslrootcert). */
export function caFilePath(file: string): string {
    return path.join(path.dirname(stateFile("_")), file);
}

/**
 * node-postgres settings for a connection string from a stack's outputs: verified TLS against the CA in
 * the file its sslrootcert names (saved by deployStack), as psql would read it.
 */
export function pg(connectionString: string, extra: Omit<ClientConfig, "ssl"> = {}): ClientConfig {
    const file = new URL(connectionString).searchParams.get("sslrootcert");
    return pgConfig(connectionString, file ? fs.readFileSync(caFilePath(file), "utf8") : undefined, extra);
}

export async function query<T = Record<string, unknown>>(connectionString: string, sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client(pg(connectionString, { connectionTimeoutMillis: 3000, query_timeout: 10000 }));
    client.on("error", () => undefined);
    await client.connect();
    try {
        return (await client.query(sql, params)).rows as T[];
    } finally {
        await client.end().catch(() => undefined);
    }
}

/** The cluster-wide configuration as Patroni holds it (GET /config from the first member that answers). */
async function dynamicConfig(outputs: StackOutputs): Promise<{ synchronous_mode?: unknown }> {
    for (const url of outputs.patroniApiUrls) {
        try {
            return (await getJson(`${url}/config`, 3000)) as { synchronous_mode?: unknown };
        } catch {
            /* next */
        }
    }
    throw new Error("no Patroni REST API answered GET /config");
}

/** Until a leader runs, every replica streams from it, and the write (and read) port answer. */
export async function waitForCluster(
    outputs: StackOutputs,
    timeoutSeconds: number,
    log: (m: string) => void = () => undefined,
): Promise<void> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    const expected = outputs.patroniApiUrls.length;
    let why = "";
    while (Date.now() < deadline) {
        try {
            const members = await clusterView(outputs);
            const leaders = members.filter(m => m.role === "leader");
            if (members.length !== expected) {
                throw new Error(`${members.length}/${expected} members registered`);
            }
            if (leaders.length !== 1 || !memberRunning(leaders[0])) {
                throw new Error(`leaders: ${JSON.stringify(leaders)}`);
            }
            // The superuser sees pg_stat_replication whole; without it (superuserAccess: false) Patroni's view
            // and the application's role tell the same.
            const su = outputs.superuserConnectionString as string | undefined;
            const streaming = su
                ? Number(
                      (
                          await query<{ n: string }>(
                              su,
                              "SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming' AND application_name LIKE 'db%'",
                          )
                      )[0].n,
                  )
                : members.filter(m => m.role !== "leader" && m.state === "streaming").length;
            if (streaming !== expected - 1) {
                throw new Error(`${streaming}/${expected - 1} replicas streaming`);
            }
            const [w] = await query<{ r: boolean }>(su ?? outputs.writeConnectionString, "SELECT pg_is_in_recovery() AS r");
            if (w.r) {
                throw new Error("write port reached a replica");
            }
            if (expected > 1) {
                // In synchronous mode only a synchronous standby may take over: until the leader has named
                // one, a failover cannot happen at all.
                const cfg = await dynamicConfig(outputs);
                if (
                    cfg.synchronous_mode &&
                    cfg.synchronous_mode !== "off" &&
                    !members.some(m => m.role === "sync_standby" || m.role === "quorum_standby")
                ) {
                    throw new Error("no synchronous standby yet");
                }
                const read = su ? su.replace(outputs.writeEndpoint, outputs.readEndpoint) : outputs.readConnectionString;
                const [r] = await query<{ r: boolean }>(read, "SELECT pg_is_in_recovery() AS r");
                if (!r.r) {
                    throw new Error("read port reached the primary");
                }
            }
            return;
        } catch (e) {
            const msg = e instanceof Error ? e.message : String(e);
            if (msg !== why) {
                log(`waiting: ${msg}`);
                why = msg;
            }
        }
        await sleep(1000);
    }
    throw new Error(`cluster not healthy after ${timeoutSeconds} s: ${why}`);
}
