// The engine's pids limit on a container: @pulumi/docker 5.2 has no input for it (HostConfig.PidsLimit), so a
// dynamic resource sets it with `docker update --pids-limit` once the container exists, and again when the
// container is replaced or the limit changes; the engine keeps it across restarts. Pulumi serializes the
// provider, so it imports only self-contained modules.
import * as pulumi from "@pulumi/pulumi";
import { dockerStdout } from "./dcsClient";

export interface PidsLimitState {
    /** Docker name of the container. */
    container: string;
    /** The container's ID: a replaced container gets the limit again. */
    containerId: string;
    /** Most processes and threads the container may hold at once (a fork bomb stops there). */
    limit: number;
}

async function setPidsLimit(s: PidsLimitState): Promise<void> {
    await dockerStdout(["update", "--pids-limit", String(s.limit), s.container], "", 30000).catch((e: Error) => {
        throw new Error(`docker update --pids-limit ${s.limit} ${s.container}: ${e.message}`);
    });
}

export const pidsLimitProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: PidsLimitState) {
        await setPidsLimit(inputs);
        return { id: inputs.container, outs: inputs };
    },
    async diff(_id: string, olds: PidsLimitState, news: PidsLimitState) {
        const changed = (["container", "containerId", "limit"] as const).some(k => olds[k] !== news[k]);
        return { changes: changed, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: PidsLimitState, news: PidsLimitState) {
        await setPidsLimit(news);
        return { outs: news };
    },
    async delete() {
        // The limit goes with its container.
    },
};

/** A container's pids limit (see pidsLimitProvider). */
export class PidsLimit extends pulumi.dynamic.Resource {
    constructor(
        name: string,
        args: { container: pulumi.Input<string>; containerId: pulumi.Input<string>; limit: number },
        opts?: pulumi.CustomResourceOptions,
    ) {
        super(pidsLimitProvider, name, args, opts);
    }
}
