import { ETCD_CLIENT_PORT, ETCD_DATA, ETCD_PEER_PORT } from "./layout";

export interface EtcdMember {
    /** Member name, e.g. "etcd1". */
    name: string;
    /** Fixed address on the stack network. */
    address: string;
}

/** `--initial-cluster` value listing every member by address. */
export function initialCluster(members: EtcdMember[]): string {
    return members.map(m => `${m.name}=http://${m.address}:${ETCD_PEER_PORT}`).join(",");
}

/**
 * The etcd command line for one member. Advertised URLs are addresses, never names: Patroni follows
 * the member list etcd reports, and a name would put DNS on the failover path.
 */
export function renderEtcdCommand(member: EtcdMember, members: EtcdMember[], clusterToken: string): string[] {
    return [
        "etcd",
        `--name=${member.name}`,
        `--data-dir=${ETCD_DATA}/data`,
        `--listen-client-urls=http://0.0.0.0:${ETCD_CLIENT_PORT}`,
        `--advertise-client-urls=http://${member.address}:${ETCD_CLIENT_PORT}`,
        `--listen-peer-urls=http://0.0.0.0:${ETCD_PEER_PORT}`,
        `--initial-advertise-peer-urls=http://${member.address}:${ETCD_PEER_PORT}`,
        `--initial-cluster=${initialCluster(members)}`,
        `--initial-cluster-token=${clusterToken}`,
        "--initial-cluster-state=new",
        // Small and quick: a DCS holds a few keys; the defaults are tuned for WAN latency.
        "--heartbeat-interval=100",
        "--election-timeout=1000",
        "--auto-compaction-retention=1",
        "--quota-backend-bytes=268435456",
        "--log-level=warn",
    ];
}
