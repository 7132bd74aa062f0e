import * as yaml from "js-yaml";

/** Deterministic YAML: sorted keys, no line folding, so equal input gives equal bytes. */
export function dumpYaml(value: unknown): string {
    return yaml.dump(value, { sortKeys: true, lineWidth: -1, noRefs: true });
}

/** Deterministic JSON: keys sorted at every level. */
export function canonicalJson(value: unknown): string {
    const sort = (v: unknown): unknown => {
        if (Array.isArray(v)) {
            return v.map(sort);
        }
        if (v !== null && typeof v === "object") {
            return Object.fromEntries(
                Object.keys(v as object)
                    .sort()
                    .map(k => [k, sort((v as Record<string, unknown>)[k])]),
            );
        }
        return v;
    };
    return JSON.stringify(sort(value));
}
