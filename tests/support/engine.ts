// Test infrastructure, not a deployment tool: our CI has no Pulumi CLI, so the e2e tests run the real
// program under the SDK's mock hook and have that hook create every declared Docker resource for real.
// Users deploy with `pulumi up`; see docs/testing.md ("How the e2e harness works").
import * as pulumi from "@pulumi/pulumi";
import { errorText } from "../../lib/errors";
import { randomInt } from "crypto";
import { ed25519OpenSsh } from "./sshKey";
import { certRequest, ecdsaPrivateKey, locallySignedCert, selfSignedCert } from "./certificates";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { applyDynamicConfig, DynamicConfigState } from "../../components/dcsClient";
import { dynamicConfigProvider } from "../../components/patroniDynamicConfig";
import { rolloutStepProvider } from "../../components/rolloutStep";
import { etcdRolloutStepProvider } from "../../components/etcdRolloutStep";
import { containerFileProvider } from "../../components/containerFile";
import { pidsLimitProvider } from "../../components/pidsLimit";
import { etcdMembershipProvider } from "../../components/etcdMembership";
import { docker, waitHealthy } from "./docker";

const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Secret wrappers replaced by their values, at any depth. */
export function unwrapSecrets(v: unknown): unknown {
    if (v !== null && typeof v === "object" && SECRET_SIG_KEY in (v as object)) {
        return unwrapSecrets((v as { value: unknown }).value);
    }
    if (Array.isArray(v)) {
        return v.map(unwrapSecrets);
    }
    if (v !== null && typeof v === "object") {
        return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, unwrapSecrets(x)]));
    }
    return v;
}

/**
 * The provider input names the harness maps, per resource type. Anything else fails loudly, and a unit
 * test checks every one against @pulumi/docker's declared Args, so a provider upgrade that renames an
 * input breaks a test instead of silently dropping a setting.
 */
export const MAPPED_INPUTS: Record<string, string[]> = {
    "docker:index/network:Network": ["name", "driver", "ipamConfigs", "labels"],
    "docker:index/volume:Volume": ["name", "labels"],
    // buildOnPreview is set by the SDK's Image class; a preview never runs here.
    "docker:index/image:Image": ["imageName", "skipPush", "build", "buildOnPreview"],
    "docker:index/container:Container": [
        "name",
        "hostname",
        "image",
        "user",
        "command",
        "envs",
        "uploads",
        "networksAdvanced",
        "ports",
        "volumes",
        "healthcheck",
        "restart",
        "init",
        "logDriver",
        "logOpts",
        "labels",
        "memory",
        "cpus",
        "capabilities",
        "securityOpts",
        "stopSignal",
        "stopTimeout",
        "shmSize",
        "readOnly",
        "tmpfs",
        "wait",
        "waitTimeout",
    ],
    "random:index/randomPassword:RandomPassword": ["length", "special"],
    "tls:index/privateKey:PrivateKey": ["algorithm", "ecdsaCurve"],
    "tls:index/selfSignedCert:SelfSignedCert": [
        "privateKeyPem",
        "subject",
        "validityPeriodHours",
        "earlyRenewalHours",
        "isCaCertificate",
        "allowedUses",
    ],
    "tls:index/certRequest:CertRequest": ["privateKeyPem", "subject", "dnsNames", "ipAddresses"],
    "tls:index/locallySignedCert:LocallySignedCert": [
        "certRequestPem",
        "caPrivateKeyPem",
        "caCertPem",
        "validityPeriodHours",
        "earlyRenewalHours",
        "allowedUses",
    ],
};

type Inputs = Record<string, any>;

/** What a deploy left: per logical name its type, inputs (secrets unwrapped) and result, in creation order. */
export interface EngineState {
    resources: { name: string; type: string; inputs: Inputs; id: string; state: Inputs }[];
}

/** What a deploy did to one resource: kept as it was, created, replaced (delete, then create), updated in place, deleted. */
export type Action = "same" | "create" | "replace" | "update" | "delete";

const CONTAINER = "docker:index/container:Container";

/** The program's dynamic resources, told apart by name: the etcd membership guard, the rollout steps, files written into containers (Prometheus's targets, haproxy.cfg), pids limits, the DCS configuration. */
const dynamicProvider = (name: string): pulumi.dynamic.ResourceProvider =>
    name.endsWith("-etcd-membership")
        ? etcdMembershipProvider
        : /-rollout-(db\d+|done)$/.test(name)
          ? rolloutStepProvider
          : /-rollout-etcd\d+$/.test(name)
            ? etcdRolloutStepProvider
            : /-(patroni-targets|haproxy-config)$/.test(name)
              ? containerFileProvider
              : /-pids-[a-z0-9-]+$/.test(name)
                ? pidsLimitProvider
                : dynamicConfigProvider;
const canonical = (v: unknown): string =>
    JSON.stringify(v, (_k, x) =>
        x !== null && typeof x === "object" && !Array.isArray(x)
            ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)))
            : x,
    );

/**
 * Real-engine mocks: one instance per deploy; labels every object with the run id. Given the state of the
 * stack's previous deploy, it does what a second `pulumi up` does: a resource whose inputs are unchanged
 * is left alone, a changed container is replaced (stopped and removed, then created: the program's
 * containers are deleteBeforeReplace), the DCS configuration is updated through its provider, and what
 * the program no longer declares is deleted afterwards (volumes kept, as retainData does). The order is
 * the program's dependency order, as the SDK registers resources.
 */
export class RealEngine implements pulumi.runtime.Mocks {
    public readonly errors: string[] = [];
    /** Inputs each resource was created with (secrets unwrapped), by logical name. */
    public readonly inputs = new Map<string, Inputs>();
    /** Logical names by resource type, in creation order. */
    public readonly namesByType = new Map<string, string[]>();
    /** What this deploy did to each resource, in the order it did it. */
    public readonly actions: { name: string; type: string; action: Action }[] = [];
    private readonly results = new Map<string, { type: string; id: string; state: Inputs }>();
    private readonly previous: Map<string, EngineState["resources"][number]>;
    private inFlight = 0;

    constructor(
        public readonly runLabel: string,
        private readonly log: (msg: string) => void = () => undefined,
        previous?: EngineState,
        /** Logical names to replace although their inputs are unchanged, as `pulumi up --replace <urn>` does. */
        private readonly replace: string[] = [],
        /** Read dynamic resources back before diffing them, as `pulumi up --refresh` does. */
        private readonly refresh = false,
        /** Image roles whose build gives a new image ID this time, as a changed Dockerfile or base would. */
        private readonly rebuild: string[] = [],
    ) {
        this.previous = new Map((previous?.resources ?? []).map(r => [r.name, r]));
    }

    /** This deploy's resources, for the next one. */
    state(): EngineState {
        return {
            resources: [...this.results].map(([name, r]) => ({
                name,
                type: r.type,
                inputs: this.inputs.get(name)!,
                id: r.id,
                state: r.state,
            })),
        };
    }

    /** Delete what the previous deploy had and this one did not declare, newest first (volumes stay). */
    async deleteUndeclared(): Promise<void> {
        for (const r of [...this.previous.values()].reverse()) {
            if (this.results.has(r.name)) {
                continue;
            }
            if (r.type === CONTAINER) {
                this.log(`deleting ${r.inputs.name}`);
                await docker(["stop", "-t", String(r.inputs.stopTimeout ?? 10), r.id]).catch(() => undefined);
                await docker(["rm", "-f", r.id]);
            }
            this.actions.push({ name: r.name, type: r.type, action: "delete" });
        }
    }

    call(): pulumi.runtime.MockCallResult {
        return {};
    }

    async newResource(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
        this.inFlight++;
        try {
            if (this.errors.length) {
                throw new Error("an earlier resource failed");
            }
            const inputs = unwrapSecrets(args.inputs) as Inputs;
            const known = MAPPED_INPUTS[args.type];
            if (known) {
                const unknown = Object.keys(inputs).filter(k => !known.includes(k));
                if (unknown.length) {
                    throw new Error(`${args.type} ${args.name}: harness does not map input(s) ${unknown.join(", ")}`);
                }
            }
            this.inputs.set(args.name, inputs);
            this.namesByType.set(args.type, [...(this.namesByType.get(args.type) ?? []), args.name]);
            const { action, result } = await this.apply(args.type, args.name, inputs);
            this.results.set(args.name, { type: args.type, ...result });
            this.actions.push({ name: args.name, type: args.type, action });
            return { id: result.id, state: { ...args.inputs, ...result.state } };
        } catch (e) {
            const msg = `${args.type} ${args.name}: ${errorText(e)}`;
            this.errors.push(msg);
            throw new Error(msg); // plain Error, never one with a numeric code
        } finally {
            this.inFlight--;
        }
    }

    /**
     * Resolves once every declared resource is registered (the SDK's own RPC queue has drained, which
     * counts resources whose inputs are still resolving); rejects as soon as any resource fails.
     */
    async settled(): Promise<void> {
        // Internal but stable: the SDK's disconnect() uses it to wait for outstanding registrations.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs?: () => Promise<void> };
        if (typeof settings.waitForRPCs !== "function") {
            throw new Error("@pulumi/pulumi no longer exports runtime/settings.waitForRPCs");
        }
        const drained = settings.waitForRPCs().then(
            () => "drained",
            () => "drained",
        );
        for (;;) {
            if (this.errors.length) {
                throw new Error(`deploy failed:\n  ${this.errors.join("\n  ")}`);
            }
            const r = await Promise.race([drained, new Promise(res => setTimeout(() => res("tick"), 200))]);
            if (r === "drained" && this.inFlight === 0) {
                if (this.errors.length) {
                    continue;
                }
                return;
            }
        }
    }

    /** Create, keep, replace or update one resource, given what the previous deploy left of it. */
    private async apply(type: string, name: string, i: Inputs): Promise<{ action: Action; result: { id: string; state: Inputs } }> {
        const prev = this.previous.get(name);
        if (!prev || prev.type !== type) {
            return { action: "create", result: await this.create(type, name, i) };
        }
        if (type === "docker:index/image:Image") {
            // The Docker provider builds on every `pulumi up`; an unchanged context gives the same image ID
            // (an image rebuilt by an earlier deploy keeps its content: the same label again).
            const result = await this.create(type, name, i, prev.state.rebuildLabel as string | undefined);
            return { action: result.id === prev.id ? "same" : "update", result };
        }
        if (this.replace.includes(name)) {
            if (type !== "random:index/randomPassword:RandomPassword") {
                throw new Error(`the harness replaces generated passwords only, not ${type} ${name}`);
            }
            this.log(`replacing ${name} (--replace)`);
            return { action: "replace", result: await this.create(type, name, i) };
        }
        if (this.refresh && type === "pulumi-nodejs:dynamic:Resource") {
            // --refresh: what the provider reads back replaces the recorded inputs before the diff.
            const { __provider, ...deployed } = prev.inputs;
            const read = dynamicProvider(name).read;
            const refreshed = read ? (await read(prev.id, deployed)).inputs : undefined;
            if (refreshed) {
                prev.inputs = { ...refreshed, __provider };
            }
        }
        if (canonical(prev.inputs) === canonical(i)) {
            return { action: "same", result: { id: prev.id, state: prev.state } };
        }
        const changed = Object.keys({ ...prev.inputs, ...i }).filter(k => canonical(prev.inputs[k]) !== canonical(i[k]));
        switch (type) {
            case CONTAINER:
                this.log(`replacing ${i.name} (${changed.join(", ")})`);
                await docker(["stop", "-t", String(prev.inputs.stopTimeout ?? 10), prev.id]).catch(() => undefined);
                await docker(["rm", "-f", prev.id]);
                return { action: "replace", result: await this.createContainer(i) };
            case "pulumi-nodejs:dynamic:Resource": {
                const { __provider: _o, ...olds } = prev.inputs;
                const { __provider: _n, ...news } = i;
                const provider = dynamicProvider(name);
                // As the engine does: check (which may refuse the change), then diff and update.
                const checked = provider.check ? await provider.check(olds, news) : { inputs: news };
                if (checked.failures?.length) {
                    throw new Error(checked.failures.map(f => f.reason).join("; "));
                }
                const diff = await provider.diff!(name, olds, news);
                if (diff.changes) {
                    await provider.update!(name, olds, news);
                }
                this.log(`dynamic resource ${name}: updated (${changed.join(", ")})`);
                return { action: "update", result: { id: prev.id, state: prev.state } };
            }
            case "random:index/randomPassword:RandomPassword":
            case "tls:index/privateKey:PrivateKey":
            case "tls:index/selfSignedCert:SelfSignedCert":
            case "tls:index/certRequest:CertRequest":
            case "tls:index/locallySignedCert:LocallySignedCert":
                return { action: "replace", result: await this.create(type, name, i) };
            default:
                if (type.startsWith("patroni-ha:index:")) {
                    return { action: "same", result: { id: prev.id, state: prev.state } };
                }
                throw new Error(
                    `the harness cannot change ${type} ${name} in place (${changed.join(", ")}): remove the stack first (e2e:down)`,
                );
        }
    }

    private labelArgs(labels: { label: string; value: string }[] | undefined): string[] {
        return [...(labels ?? []).flatMap(l => ["--label", `${l.label}=${l.value}`]), "--label", this.runLabel];
    }

    private async create(type: string, name: string, i: Inputs, keptRebuildLabel?: string): Promise<{ id: string; state: Inputs }> {
        switch (type) {
            case "docker:index/network:Network": {
                const ipam = (i.ipamConfigs ?? []).flatMap((c: Inputs) => [
                    ...(c.subnet ? ["--subnet", c.subnet] : []),
                    ...(c.gateway ? ["--gateway", c.gateway] : []),
                ]);
                const id = await docker([
                    "network",
                    "create",
                    "--driver",
                    i.driver ?? "bridge",
                    ...ipam,
                    ...this.labelArgs(i.labels),
                    i.name,
                ]);
                return { id, state: {} };
            }
            case "docker:index/volume:Volume": {
                await docker(["volume", "create", ...this.labelArgs(i.labels), i.name]);
                return { id: i.name, state: {} };
            }
            case "docker:index/image:Image": {
                const b = i.build ?? {};
                const buildArgs = Object.entries(b.args ?? {}).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
                // A role in `rebuild` stands for an image whose content changed (a Dockerfile edit, Debian's
                // updates): a label makes its ID new while every layer still comes from the cache.
                const role = /^patroni-ha-(.+):/.exec(String(i.imageName))?.[1];
                const rebuildLabel =
                    role !== undefined && this.rebuild.includes(role) ? `patroni-ha.e2e-rebuild=${Date.now()}` : keptRebuildLabel;
                this.log(`building ${i.imageName}${rebuildLabel ? ` (${rebuildLabel})` : ""}`);
                const label = rebuildLabel ? ["--label", rebuildLabel] : [];
                await docker(
                    ["build", "-q", "-t", i.imageName, ...(b.dockerfile ? ["-f", b.dockerfile] : []), ...buildArgs, ...label, b.context],
                    {
                        timeoutMs: 15 * 60000,
                    },
                );
                const id = await docker(["image", "inspect", "-f", "{{.Id}}", i.imageName]);
                return { id, state: { repoDigest: id, baseImageName: i.imageName, ...(rebuildLabel ? { rebuildLabel } : {}) } };
            }
            case "docker:index/container:Container":
                return this.createContainer(i);
            case "random:index/randomPassword:RandomPassword": {
                const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
                const result = Array.from({ length: i.length }, () => alphabet[randomInt(alphabet.length)]).join("");
                return { id: name, state: { result } };
            }
            case "tls:index/privateKey:PrivateKey": {
                if (i.algorithm === "ECDSA") {
                    return { id: name, state: { privateKeyPem: ecdsaPrivateKey(i.ecdsaCurve) } };
                }
                if (i.algorithm !== "ED25519") {
                    throw new Error(`harness makes ED25519 and ECDSA keys only, not ${i.algorithm}`);
                }
                return { id: name, state: ed25519OpenSsh() };
            }
            case "tls:index/selfSignedCert:SelfSignedCert":
                return { id: name, state: { certPem: selfSignedCert(i as Parameters<typeof selfSignedCert>[0]) } };
            case "tls:index/certRequest:CertRequest":
                return { id: name, state: { certRequestPem: certRequest(i as Parameters<typeof certRequest>[0]) } };
            case "tls:index/locallySignedCert:LocallySignedCert":
                return { id: name, state: { certPem: locallySignedCert(i as Parameters<typeof locallySignedCert>[0]) } };
            case "pulumi-nodejs:dynamic:Resource": {
                const { __provider: _provider, ...props } = i;
                const provider = dynamicProvider(name);
                if (provider !== dynamicConfigProvider) {
                    const created = await provider.create!(props);
                    return { id: created.id, state: {} };
                }
                const report = await applyDynamicConfig(props as DynamicConfigState, m => this.log(m));
                this.log(`dynamic config ${name}: ${report.mode}`);
                return { id: `${props.namespace}${props.scope}/config`, state: {} };
            }
            default:
                if (type.startsWith("patroni-ha:index:") || type === "pulumi:pulumi:Stack") {
                    return { id: "", state: {} };
                }
                throw new Error(`harness cannot create resource type ${type}`);
        }
    }

    private async createContainer(i: Inputs): Promise<{ id: string; state: Inputs }> {
        const args = ["create", "--name", i.name];
        if (i.hostname) {
            args.push("--hostname", i.hostname);
        }
        if (i.user) {
            args.push("--user", i.user);
        }
        if (i.restart) {
            args.push("--restart", i.restart);
        }
        if (i.init) {
            args.push("--init");
        }
        if (i.logDriver) {
            args.push("--log-driver", i.logDriver);
        }
        for (const [k, v] of Object.entries(i.logOpts ?? {})) {
            args.push("--log-opt", `${k}=${v}`);
        }
        if (i.memory) {
            args.push("--memory", `${i.memory}m`);
        }
        if (i.cpus) {
            args.push("--cpus", String(i.cpus));
        }
        if (i.shmSize) {
            args.push("--shm-size", `${i.shmSize}m`);
        }
        if (i.readOnly) {
            args.push("--read-only");
        }
        for (const [dir, options] of Object.entries(i.tmpfs ?? {})) {
            args.push("--tmpfs", options ? `${dir}:${options}` : dir);
        }
        if (i.stopSignal) {
            args.push("--stop-signal", i.stopSignal);
        }
        if (i.stopTimeout !== undefined) {
            args.push("--stop-timeout", String(i.stopTimeout));
        }
        args.push(...this.labelArgs(i.labels));
        const nets: Inputs[] = i.networksAdvanced ?? [];
        if (nets[0]) {
            args.push("--network", nets[0].name);
            if (nets[0].ipv4Address) {
                args.push("--ip", nets[0].ipv4Address);
            }
            for (const a of nets[0].aliases ?? []) {
                args.push("--network-alias", a);
            }
        }
        for (const p of i.ports ?? []) {
            args.push("-p", `${p.ip ? `${p.ip}:` : ""}${p.external ?? ""}:${p.internal}`);
        }
        for (const c of i.capabilities?.drops ?? []) {
            args.push("--cap-drop", c);
        }
        for (const c of i.capabilities?.adds ?? []) {
            args.push("--cap-add", c);
        }
        for (const o of i.securityOpts ?? []) {
            args.push("--security-opt", o);
        }
        for (const v of i.volumes ?? []) {
            // A named volume or a host directory (hostPath), as the Docker provider maps them.
            args.push("-v", `${v.volumeName ?? v.hostPath}:${v.containerPath}${v.readOnly ? ":ro" : ""}`);
        }
        const hc = i.healthcheck;
        if (hc) {
            const [kind, ...cmd] = hc.tests as string[];
            if (kind !== "CMD-SHELL") {
                throw new Error(`healthcheck kind ${kind} not mapped`);
            }
            args.push("--health-cmd", cmd.join(" "));
            if (hc.interval) {
                args.push("--health-interval", hc.interval);
            }
            if (hc.timeout) {
                args.push("--health-timeout", hc.timeout);
            }
            if (hc.retries) {
                args.push("--health-retries", String(hc.retries));
            }
            if (hc.startPeriod) {
                args.push("--health-start-period", hc.startPeriod);
            }
        }
        // Secrets go through an env file (0600, removed at once), never on a command line.
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "patroni-ha-e2e-"));
        try {
            if (i.envs?.length) {
                fs.writeFileSync(path.join(tmp, "env"), (i.envs as string[]).join("\n") + "\n", { mode: 0o600 });
                args.push("--env-file", path.join(tmp, "env"));
            }
            args.push(i.image, ...(i.command ?? []));
            const id = await docker(args);
            for (const [n, net] of nets.slice(1).entries()) {
                const options = [
                    ...(net.ipv4Address ? ["--ip", net.ipv4Address] : []),
                    ...(net.aliases ?? []).flatMap((a: string) => ["--alias", a]),
                ];
                await docker(["network", "connect", ...options, net.name, id]).catch(e => {
                    throw new Error(`network ${n}: ${e.message}`);
                });
            }
            for (const [n, u] of (i.uploads ?? []).entries()) {
                const file = path.join(tmp, `upload-${n}`);
                fs.writeFileSync(file, u.content, { mode: u.executable ? 0o755 : 0o644 });
                await docker(["cp", file, `${id}:${u.file}`]);
            }
            await docker(["start", id]);
            if (i.wait) {
                await waitHealthy(i.name, (i.waitTimeout ?? 60) * 1000);
            }
            return { id, state: {} };
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }
}
