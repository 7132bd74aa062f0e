// Thin wrapper over the docker CLI for the e2e harness. Errors are re-thrown as plain Errors: an error
// with a numeric `.code` (as child_process gives) makes the Pulumi SDK hang silently.
import { docker, dockerExec, execute, ExecResult } from "../../lib/exec";

export { docker, dockerExec };
export type RunResult = ExecResult;
export const run = execute;

/** Remove every container, volume and network carrying a label (key=value); volumes stay with keepVolumes. */
export async function sweepByLabel(
    label: string,
    opts: { keepVolumes?: boolean } = {},
): Promise<{ containers: number; volumes: number; networks: number }> {
    const ids = async (kind: string[]) =>
        (await docker([...kind, "--filter", `label=${label}`], { allowFail: true })).split("\n").filter(Boolean);
    const containers = await ids(["ps", "-aq"]);
    // The failover sentinel first, as `pulumi destroy` orders it (it depends on the nodes): otherwise it
    // fails over each leader the sweep kills.
    const sentinels = (
        await docker(["ps", "-aq", "--filter", `label=${label}`, "--filter", "label=patroni-ha.role=sentinel"], { allowFail: true })
    )
        .split("\n")
        .filter(Boolean);
    if (sentinels.length) {
        await docker(["rm", "-f", "-v", ...sentinels], { allowFail: true });
    }
    const rest = containers.filter(c => !sentinels.includes(c));
    if (rest.length) {
        await docker(["rm", "-f", "-v", ...rest], { allowFail: true });
    }
    const volumes = opts.keepVolumes ? [] : await ids(["volume", "ls", "-q"]);
    if (volumes.length) {
        await docker(["volume", "rm", "-f", ...volumes], { allowFail: true });
    }
    const networks = await ids(["network", "ls", "-q"]);
    if (networks.length) {
        await docker(["network", "rm", ...networks], { allowFail: true });
    }
    return { containers: containers.length, volumes: volumes.length, networks: networks.length };
}

/** Wait until a container's healthcheck reports healthy. */
export async function waitHealthy(container: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let status = "";
    while (Date.now() < deadline) {
        status = await docker(["inspect", "-f", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", container], {
            allowFail: true,
        });
        if (status.endsWith("healthy") && !status.endsWith("unhealthy")) {
            return;
        }
        if (status.startsWith("exited") || status.startsWith("dead")) {
            break;
        }
        await new Promise(r => setTimeout(r, 1000));
    }
    const logs = await docker(["logs", "--tail", "30", container], { allowFail: true });
    throw new Error(`container ${container} not healthy (${status}); last logs:\n${logs}`);
}
