// Every command line on the host, sampled while something runs: the containers' processes are the host's,
// so reading /proc/<pid>/cmdline here sees every process in every container (root reads them all).
import * as fs from "fs";

export interface ArgvScan {
    /** Stop sampling; every distinct command line seen, and how many samples were taken. */
    stop(): { commandLines: Set<string>; samples: number };
}

/** Sample every process's argv every `intervalMs` until stop(). */
export function startArgvScan(intervalMs = 25): ArgvScan {
    const commandLines = new Set<string>();
    let samples = 0;
    const sample = () => {
        samples++;
        for (const pid of fs.readdirSync("/proc")) {
            if (!/^\d+$/.test(pid)) {
                continue;
            }
            try {
                const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "latin1");
                if (argv) {
                    commandLines.add(argv.split("\0").join(" ").trim());
                }
            } catch {
                // Gone between the listing and the read.
            }
        }
    };
    const timer = setInterval(sample, intervalMs);
    sample();
    return {
        stop() {
            clearInterval(timer);
            sample();
            return { commandLines, samples };
        },
    };
}
