// Thin wrapper over the docker CLI for the e2e harness. Errors are re-thrown as plain Errors: an error
// with a numeric `.code` (as child_process gives) makes the Pulumi SDK hang silently.
import { spawn } from "child_process";

export interface RunResult { stdout: string; stderr: string; code: number }

export function run(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "", stderr = "";
        const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
        child.stdout.on("data", d => { stdout += d; });
        child.stderr.on("data", d => { stderr += d; });
        child.on("error", e => { if (timer) { clearTimeout(timer); } reject(new Error(`${cmd}: ${e.message}`)); });
        child.on("close", code => {
            if (timer) { clearTimeout(timer); }
            const r = { stdout, stderr, code: code ?? -1 };
            if (r.code !== 0 && !opts.allowFail) {
                reject(new Error(`${cmd} ${args.slice(0, 3).join(" ")} ... exited ${r.code}: ${(stderr || stdout).trim().slice(-2000)}`));
            } else { resolve(r); }
        });
        // A command that exits without reading its stdin (nsenter, iptables) must not surface as EPIPE.
        child.stdin.on("error", () => undefined);
        child.stdin.end(opts.input ?? "");
    });
}

export async function docker(args: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): Promise<string> {
    return (await run("docker", args, opts)).stdout.trim();
}

/** Run a command inside a container; returns stdout. */
export async function dockerExec(container: string, command: string[], opts: { user?: string; allowFail?: boolean; input?: string } = {}): Promise<RunResult> {
    const args = ["exec", ...(opts.input !== undefined ? ["-i"] : []), ...(opts.user ? ["-u", opts.user] : []), container, ...command];
    return run("docker", args, { allowFail: opts.allowFail, input: opts.input });
}

/** Remove every container, volume and network carrying a label (key=value). */
export async function sweepByLabel(label: string): Promise<{ containers: number; volumes: number; networks: number }> {
    const ids = async (kind: string[]) => (await docker([...kind, "--filter", `label=${label}`], { allowFail: true })).split("\n").filter(Boolean);
    const containers = await ids(["ps", "-aq"]);
    if (containers.length) { await docker(["rm", "-f", "-v", ...containers], { allowFail: true }); }
    const volumes = await ids(["volume", "ls", "-q"]);
    if (volumes.length) { await docker(["volume", "rm", "-f", ...volumes], { allowFail: true }); }
    const networks = await ids(["network", "ls", "-q"]);
    if (networks.length) { await docker(["network", "rm", ...networks], { allowFail: true }); }
    return { containers: containers.length, volumes: volumes.length, networks: networks.length };
}

/** Wait until a container's healthcheck reports healthy. */
export async function waitHealthy(container: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let status = "";
    while (Date.now() < deadline) {
        status = await docker(["inspect", "-f", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", container], { allowFail: true });
        if (status.endsWith("healthy") && !status.endsWith("unhealthy")) { return; }
        if (status.startsWith("exited") || status.startsWith("dead")) { break; }
        await new Promise(r => setTimeout(r, 1000));
    }
    const logs = await docker(["logs", "--tail", "30", container], { allowFail: true });
    throw new Error(`container ${container} not healthy (${status}); last logs:\n${logs}`);
}
