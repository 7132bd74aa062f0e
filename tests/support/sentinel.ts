// The failover sentinel on a deployed stack, for the chaos suite and the bench: its counters, its log,
// and the fault that makes the engine restart the leader's container.
import { sentinelFromSamples, SentinelStatus } from "../../ops/status";
import { scrape, sampleValue } from "../../lib/metrics";
import { Fault } from "./chaos";
import { docker, run } from "./docker";
import { Deployed } from "./stack";
import { waitFor } from "./workload";

export const sentinelContainer = (stack: string) => `${stack}-sentinel`;

/** The sentinel's counters, with the deaths it left alone by reason. */
export async function sentinelCounters(d: Deployed): Promise<SentinelStatus & { skipped: Record<string, number> }> {
    const url = d.outputs.metricsUrls.sentinel;
    if (!url) {
        throw new Error("the stack runs no sentinel (metricsUrls.sentinel is missing)");
    }
    const samples = await scrape(url);
    const skipped: Record<string, number> = {};
    for (const s of samples) {
        if (s.name === "patroni_sentinel_deaths_skipped_total") {
            skipped[s.labels.reason] = s.value;
        }
    }
    return { ...sentinelFromSamples(samples), skipped };
}

/** The sentinel's log lines (its stderr) since `sinceMs`. */
export async function sentinelLog(stack: string, sinceMs: number): Promise<string[]> {
    const r = await run("docker", ["logs", "--since", new Date(sinceMs).toISOString(), sentinelContainer(stack)]);
    return (r.stdout + r.stderr).split("\n").filter(l => / (INFO|WARNING|ERROR): /.test(l));
}

/** Wait until the sentinel follows the engine's events again (after it was started). */
export async function waitSentinelConnected(d: Deployed, timeoutSeconds = 60): Promise<void> {
    await waitFor("the sentinel following the engine's events", timeoutSeconds, async () => {
        const samples = await scrape(d.outputs.metricsUrls.sentinel!).catch(() => []);
        return sampleValue(samples, "patroni_sentinel_docker_connected") === 1;
    });
}

/**
 * The Patroni process inside the leader killed with SIGKILL: the container's init ends with it, and the
 * engine restarts the container (a crash, unlike `docker kill`). Returns once it runs again and its
 * member is back in the cluster's view.
 */
export const crashLeaderContainer: Fault = async (c, oldLeader) => {
    const container = `${c.spec.stack}-${oldLeader}`;
    const restarts = Number(await docker(["inspect", "-f", "{{.RestartCount}}", container]));
    // Patroni is init's child (the entrypoint execs it); find it by its command line. The exec dies with the
    // container.
    await run(
        "docker",
        [
            "exec",
            container,
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do if tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q '^/usr/bin/python3 /usr/bin/patroni '; then kill -9 ${p#/proc/}; fi; done",
        ],
        { allowFail: true },
    );
    await waitFor(`${container} restarted by the engine`, 60, async () => {
        const [count, running] = (await docker(["inspect", "-f", "{{.RestartCount}} {{.State.Running}}", container])).split(" ");
        return Number(count) > restarts && running === "true";
    });
    const liftedAt = Date.now();
    await new Promise(r => setTimeout(r, 10_000));
    return liftedAt;
};
