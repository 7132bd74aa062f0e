// One step of a rolling replacement of the etcd members: before member n's container is replaced, member
// n-1 (replaced just before) must serve a linearizable read again, so at most one member is ever down and
// the DCS keeps its quorum. Pulumi serializes the provider, so it imports only self-contained modules.
import * as pulumi from "@pulumi/pulumi";
import { dockerExecStdout, retry } from "./dcsClient";

export interface EtcdRolloutStepState {
    /** The member whose container this step comes before (`etcd2`). */
    member: string;
    /** The member replaced just before it (`etcd1`), its Docker name and its container fingerprint. */
    previous?: { member: string; container: string; fingerprint: string };
    /** Seconds to wait for the previous member. */
    timeoutSeconds: number;
}

/**
 * Until `member` answers a linearizable read (etcd's default): it runs, has rejoined the cluster, and the
 * cluster has a quorum with it. Through `docker exec` and the member's own client certificate (etcd-v3).
 */
export async function waitMemberServing(container: string, member: string, timeoutSeconds: number): Promise<void> {
    await retry(`${member} serving again after its replacement`, timeoutSeconds, async () => {
        const answer = JSON.parse(await dockerExecStdout(container, ["etcd-v3", "kv/range"], JSON.stringify({ key: "Lw==" }), 10000));
        if (!answer.header) {
            throw new Error(`unexpected answer ${JSON.stringify(answer)}`);
        }
    });
}

export const etcdRolloutStepProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: EtcdRolloutStepState) {
        // A new stack or member: a majority forms only once enough members run, so nothing waits here.
        return { id: `rollout-${inputs.member}`, outs: inputs };
    },
    async diff(_id: string, olds: EtcdRolloutStepState, news: EtcdRolloutStepState) {
        return { changes: JSON.stringify(olds) !== JSON.stringify(news), replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, olds: EtcdRolloutStepState, news: EtcdRolloutStepState) {
        // The previous member's container was replaced (its fingerprint changed): wait until it serves again.
        const p = news.previous;
        if (p !== undefined && olds.previous !== undefined && olds.previous.fingerprint !== p.fingerprint) {
            await waitMemberServing(p.container, p.member, news.timeoutSeconds);
        }
        return { outs: news };
    },
    async delete() {
        // Nothing outside Pulumi's state.
    },
};

/** The gate before one etcd member's container (see etcdRolloutStepProvider). */
export class EtcdRolloutStep extends pulumi.dynamic.Resource {
    constructor(name: string, args: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
        super(etcdRolloutStepProvider, name, { timeoutSeconds: 300, ...args }, opts);
    }
}
