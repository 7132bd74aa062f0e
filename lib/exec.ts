// Subprocesses for ops, bench and the test harness. Failures are plain Errors: an error with a numeric
// `.code` (as child_process gives) makes the Pulumi SDK hang silently when it surfaces in a resource.
import { spawn } from "child_process";

export interface ExecResult {
    code: number;
    stdout: string;
    stderr: string;
}

export interface ExecOptions {
    /** Written to stdin (stdin is closed either way). */
    input?: string;
    /** Piped to stdin instead of `input` (a stream from another process). */
    stdin?: NodeJS.ReadableStream;
    /** Killed (SIGKILL) after this long; no limit when absent. */
    timeoutMs?: number;
    /** Resolve on a non-zero exit instead of rejecting. */
    allowFail?: boolean;
}

/** Run `cmd args`, collecting its output; rejects on a non-zero exit unless `allowFail`. */
export function execute(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "",
            stderr = "";
        const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
        child.stdout.on("data", d => {
            stdout += d;
        });
        child.stderr.on("data", d => {
            stderr += d;
        });
        child.on("error", e => {
            clearTimeout(timer);
            reject(new Error(`${cmd}: ${e.message}`));
        });
        child.on("close", code => {
            clearTimeout(timer);
            const r = { stdout, stderr, code: code ?? -1 };
            if (r.code !== 0 && !opts.allowFail) {
                reject(new Error(`${cmd} ${args.slice(0, 3).join(" ")} ... exited ${r.code}: ${(stderr || stdout).trim().slice(-2000)}`));
            } else {
                resolve(r);
            }
        });
        // A command that exits without reading its stdin (nsenter, iptables) must not surface as EPIPE.
        child.stdin.on("error", () => undefined);
        if (opts.stdin) {
            opts.stdin.pipe(child.stdin);
        } else {
            child.stdin.end(opts.input ?? "");
        }
    });
}

/** `docker exec [-i] [-u user] <container> <command...>`. */
export function dockerExec(container: string, command: string[], opts: ExecOptions & { user?: string } = {}): Promise<ExecResult> {
    const args = [
        "exec",
        ...(opts.input !== undefined || opts.stdin ? ["-i"] : []),
        ...(opts.user ? ["-u", opts.user] : []),
        container,
        ...command,
    ];
    return execute("docker", args, opts);
}

/** `docker <args>`'s trimmed stdout; rejects on a non-zero exit. */
export async function docker(args: string[], opts: ExecOptions = {}): Promise<string> {
    return (await execute("docker", args, opts)).stdout.trim();
}
