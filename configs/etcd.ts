import { ETCD_CLIENT_PORT, ETCD_DATA, ETCD_METRICS_PORT, ETCD_PEER_PORT, TLS_FILES } from "./layout";

export interface EtcdMember {
    /** Member name, e.g. "etcd1". */
    name: string;
    /** Fixed address on the stack network: the only one its client (besides loopback) and peer ports listen on. */
    address: string;
}

/** `--initial-cluster` value listing every member by address. */
export function initialCluster(members: EtcdMember[]): string {
    return members.map(m => `${m.name}=https://${m.address}:${ETCD_PEER_PORT}`).join(",");
}

/**
 * The etcd command line for one member, started through `secret-env` (which exports the secret file) and
 * `tls-key` (which writes the member's private key to the tmpfs first). Advertised URLs are addresses, never names: Patroni follows the member list etcd reports, and a
 * name would put DNS on the failover path. Clients and peers must present a certificate from the stack's
 * CA (client-cert-auth): whoever reaches the port without one can read and write nothing. The client and
 * peer ports listen on the member's stack-network address (and the client port on loopback, for etcdctl
 * and etcd-v3 in the container) only, so from the service network the member is not reachable at all but
 * for /metrics and /health, served without TLS on their own port (every address: Prometheus, healthcheck).
 */
export function renderEtcdCommand(member: EtcdMember, members: EtcdMember[], clusterToken: string): string[] {
    return [
        "secret-env",
        "tls-key",
        "etcd",
        `--name=${member.name}`,
        `--data-dir=${ETCD_DATA}/data`,
        `--listen-client-urls=https://${member.address}:${ETCD_CLIENT_PORT},https://127.0.0.1:${ETCD_CLIENT_PORT}`,
        `--advertise-client-urls=https://${member.address}:${ETCD_CLIENT_PORT}`,
        `--listen-peer-urls=https://${member.address}:${ETCD_PEER_PORT}`,
        `--initial-advertise-peer-urls=https://${member.address}:${ETCD_PEER_PORT}`,
        `--listen-metrics-urls=http://0.0.0.0:${ETCD_METRICS_PORT}`,
        `--initial-cluster=${initialCluster(members)}`,
        `--initial-cluster-token=${clusterToken}`,
        "--initial-cluster-state=new",
        "--client-cert-auth",
        `--trusted-ca-file=${TLS_FILES.ca}`,
        `--cert-file=${TLS_FILES.cert}`,
        `--key-file=${TLS_FILES.key}`,
        "--peer-client-cert-auth",
        `--peer-trusted-ca-file=${TLS_FILES.ca}`,
        `--peer-cert-file=${TLS_FILES.cert}`,
        `--peer-key-file=${TLS_FILES.key}`,
        // Small and quick: a DCS holds a few keys; the defaults are tuned for WAN latency.
        "--heartbeat-interval=100",
        "--election-timeout=1000",
        "--auto-compaction-retention=1",
        "--quota-backend-bytes=268435456",
        "--log-level=warn",
    ];
}
