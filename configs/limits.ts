import { PgValue } from "../config";
import type { ImageRole } from "../components/images";
import { DEFAULT_PARAMETERS } from "./dcs";

const FIXED_PIDS: Record<Exclude<ImageRole, "patroni">, number> = {
    etcd: 512,
    haproxy: 256,
    barman: 1024,
    exporter: 256,
    prometheus: 512,
    alertmanager: 256,
    sentinel: 256,
    "volume-metrics": 256,
};

/**
 * A container's pids limit (processes and threads; etcd, Prometheus and the exporter are Go programs): several
 * times what its role runs, so only a runaway reaches it. A Patroni node's grows with max_connections (one
 * backend each); the PITR instance takes a node's.
 */
export function pidsLimitFor(role: ImageRole, postgresql: Record<string, PgValue> = {}): number {
    if (role !== "patroni") {
        return FIXED_PIDS[role];
    }
    const maxConnections = Number(postgresql.max_connections ?? DEFAULT_PARAMETERS.max_connections);
    return Math.max(2048, 2 * maxConnections + 512);
}
