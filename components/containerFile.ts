// A file the stack writes into a running container with `docker exec`, for configuration its service
// re-reads by itself (Prometheus's file_sd targets) or is told to reload (HAProxy, through the container's own
// command): changing it replaces no container. Written again when
// the content changes or the container is replaced. Pulumi serializes the provider, so it imports only
// self-contained modules.
import * as pulumi from "@pulumi/pulumi";
import { dockerExecStdout, retry } from "./dcsClient";

export interface ContainerFileState {
    /** Docker name of the container. */
    container: string;
    /** The container's ID: a replaced container gets the file again. */
    containerId: string;
    /** Absolute path inside the container, in a directory its user may write (created if missing). */
    path: string;
    /** The file's content. */
    content: string;
    /**
     * A command in the container that takes the content on stdin and puts it in place itself (checking it,
     * reloading the service: haproxy-apply-config); without one, the file is written and renamed into place.
     */
    command?: string[];
    /** Seconds to wait for the container to run. */
    timeoutSeconds: number;
}

/**
 * Write `content` to `path` as the container's user: a new file renamed over the old one, so a reader never
 * sees half of it (or hand it to the container's `command`). The content goes on stdin, the path as an
 * argument of a fixed script.
 */
export async function writeContainerFile(s: ContainerFileState): Promise<void> {
    const script = 'set -e; umask 022; mkdir -p "$(dirname "$1")"; cat > "$1.new"; mv -f "$1.new" "$1"';
    await retry(`${s.path} written in ${s.container}`, s.timeoutSeconds, () =>
        dockerExecStdout(s.container, s.command ?? ["sh", "-c", script, "sh", s.path], s.content, 30000),
    );
}

export const containerFileProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ContainerFileState) {
        await writeContainerFile(inputs);
        return { id: `${inputs.container}:${inputs.path}`, outs: inputs };
    },
    async diff(_id: string, olds: ContainerFileState, news: ContainerFileState) {
        const changed =
            (["container", "containerId", "path", "content"] as const).some(k => olds[k] !== news[k]) ||
            JSON.stringify(olds.command) !== JSON.stringify(news.command);
        return { changes: changed, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: ContainerFileState, news: ContainerFileState) {
        await writeContainerFile(news);
        return { outs: news };
    },
    async delete() {
        // The file goes with its container or volume.
    },
};

/** A file kept up to date inside a running container (see containerFileProvider). */
export class ContainerFile extends pulumi.dynamic.Resource {
    constructor(name: string, args: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
        super(containerFileProvider, name, { timeoutSeconds: 120, ...args }, opts);
    }
}
