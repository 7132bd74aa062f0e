import * as pulumi from "@pulumi/pulumi";

/** The etcd members a stack was deployed with (etcd1 … etcdN), and how they talk to each other. */
export interface EtcdMembershipState {
    members: string[];
    /** "https": peers and clients use TLS with the stack's CA. Absent in stacks deployed before that. */
    peerScheme?: "https";
}

/**
 * Why a running stack's etcd membership cannot change through `pulumi up`. Import-free, like everything
 * the dynamic provider below uses: it is serialized into Pulumi's provider process.
 */
export function membershipChangeRefusal(before: string[], after: string[]): string {
    return (
        `patroni-ha:etcdNodes cannot change on a running stack (from ${before.length} to ${after.length} members): ` +
        "every etcd member keeps the membership in its data volume, so re-creating them with a new member list " +
        "leaves the DCS without a quorum, and then no failover can happen. Nothing was changed. " +
        `Set patroni-ha:etcdNodes back to ${before.length}; resizing the DCS of a running stack is not supported ` +
        "(deploy a new stack with the size you want and move the data with a backup)."
    );
}

/**
 * Why a stack deployed before etcd used TLS cannot be upgraded in place by `pulumi up`. Import-free (see above).
 */
export function plainEtcdRefusal(): string {
    return (
        "this stack's etcd was deployed without TLS, and this version runs etcd with TLS and client certificates only: " +
        "etcd keeps its members' plain-HTTP peer addresses in its data volumes, so re-created members could not reach " +
        "each other and the DCS would lose its quorum (then no failover can happen). Nothing was changed. To move this " +
        'stack to this version, see docs/security.md ("Upgrading a stack deployed before etcd had TLS"); until then ' +
        "keep deploying it with the version it was deployed with."
    );
}

/**
 * The dynamic provider: `check` refuses a member list other than the deployed one before anything is
 * changed (Pulumi checks every resource during the preview that `pulumi up` starts with, and this one is
 * registered before the etcd and Patroni containers, which depend on it). Nothing to create or delete.
 */
export const etcdMembershipProvider: pulumi.dynamic.ResourceProvider = {
    async check(olds: Partial<EtcdMembershipState> | undefined, news: EtcdMembershipState) {
        const before = olds?.members;
        if (Array.isArray(before) && JSON.stringify(before) !== JSON.stringify(news.members)) {
            return { inputs: news, failures: [{ property: "members", reason: membershipChangeRefusal(before, news.members) }] };
        }
        if (Array.isArray(before) && olds?.peerScheme !== news.peerScheme) {
            return { inputs: news, failures: [{ property: "peerScheme", reason: plainEtcdRefusal() }] };
        }
        return { inputs: news };
    },
    async diff(_id: string, olds: EtcdMembershipState, news: EtcdMembershipState) {
        return { changes: JSON.stringify(olds.members) !== JSON.stringify(news.members) || olds.peerScheme !== news.peerScheme };
    },
    async create(inputs: EtcdMembershipState) {
        return { id: "etcd-membership", outs: inputs };
    },
    async update(_id: string, _olds: EtcdMembershipState, news: EtcdMembershipState) {
        return { outs: news };
    },
    async delete() {
        // Nothing outside Pulumi's state.
    },
};

/** Guards the etcd member list of a deployed stack (see etcdMembershipProvider). */
export class EtcdMembership extends pulumi.dynamic.Resource {
    constructor(name: string, args: EtcdMembershipState, opts?: pulumi.CustomResourceOptions) {
        super(etcdMembershipProvider, name, args, opts);
    }
}
