// Reading a Prometheus text exposition (what /metrics endpoints answer): samples by name and labels.
import { httpRequest } from "./patroniApi";

export interface Sample {
    name: string;
    labels: Record<string, string>;
    value: number;
}

const SAMPLE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of an exposition (comments and blank lines skipped). */
export function parseSamples(text: string): Sample[] {
    const out: Sample[] = [];
    for (const line of text.split("\n")) {
        const m = SAMPLE.exec(line.trim());
        if (!m || line.startsWith("#")) {
            continue;
        }
        const labels = Object.fromEntries([...(m[2] ?? "").matchAll(LABEL)].map(l => [l[1], l[2].replace(/\\(.)/g, "$1")]));
        out.push({ name: m[1], labels, value: Number(m[3]) });
    }
    return out;
}

/** The value of the first sample named `name` whose labels include `labels` (undefined if none). */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
    return samples.find(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** Fetch and parse a /metrics endpoint. */
export async function scrape(url: string, timeoutMs = 4000): Promise<Sample[]> {
    // https:// (Patroni's) verified against the CAs the process trusts (trustCa, from the stack's outputs).
    const r = await httpRequest("GET", url, { timeoutMs });
    if (r.status < 200 || r.status > 299) {
        throw new Error(`${url}: HTTP ${r.status}`);
    }
    return parseSamples(r.text);
}
