import * as pulumi from "@pulumi/pulumi";
import { applyDynamicConfig, configObject, DynamicConfigState, MemberEndpoint, readOwnedConfig, sameConfig } from "./dcsClient";

export interface PatroniDynamicConfigArgs {
    /** Patroni scope. */
    scope: string;
    /** DCS namespace, with trailing slash. */
    namespace: string;
    /** etcd members' Docker names (reached with `docker exec` from where `pulumi up` runs: see dcsClient). */
    etcdContainers: string[];
    /** Members' REST API URLs reachable from where `pulumi up` runs, db1 first. */
    members: MemberEndpoint[];
    /** The stack's CA certificate (PEM): the REST API's certificates are verified against it. */
    caCertificate: pulumi.Input<string>;
    /** REST API user and password for PATCH /config and POST /restart. */
    apiUser: pulumi.Input<string>;
    apiPassword: pulumi.Input<string>;
    /** Desired DCS configuration (renderDynamicConfig): an object, so the preview shows changes key by key. */
    config: Record<string, unknown>;
    /** Seconds to wait for etcd and Patroni to answer. */
    timeoutSeconds?: number;
}

/** The dynamic provider: create seeds (or patches), update patches and rolls restarts, delete leaves the DCS alone. */
export const dynamicConfigProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: DynamicConfigState) {
        await applyDynamicConfig(inputs);
        return { id: `${inputs.namespace}${inputs.scope}/config`, outs: inputs };
    },
    async diff(_id: string, olds: DynamicConfigState, news: DynamicConfigState) {
        // A new CA alone (rotation) changes nothing in the DCS: the next apply uses it anyway. The config is
        // compared as JSON values (a stack deployed before kept it as text).
        const changed = ["etcdContainers", "members", "apiUser", "apiPassword", "scope", "namespace"].filter(
            k =>
                JSON.stringify((olds as unknown as Record<string, unknown>)[k]) !==
                JSON.stringify((news as unknown as Record<string, unknown>)[k]),
        );
        if (!sameConfig(configObject(olds.config), configObject(news.config))) {
            changed.push("config");
        }
        // The scope names the cluster: a new scope is a new cluster, anything else is changed in place.
        return {
            changes: changed.length > 0,
            replaces: changed.filter(k => k === "scope" || k === "namespace"),
            deleteBeforeReplace: false,
        };
    },
    async update(_id: string, olds: DynamicConfigState, news: DynamicConfigState) {
        // olds.config: what the stack owned before, so a key it dropped is deleted and nobody else's is.
        await applyDynamicConfig(news, undefined, olds.config);
        return { outs: news };
    },
    async read(id: string, props: DynamicConfigState) {
        // `pulumi refresh` (or `up --refresh`): the owned keys as the DCS holds them now become the state, so
        // the next preview shows drift key by key (an operator's edit-config of a key the stack sets) and the
        // update patches it back. Keys the stack does not set (pause …) are never part of it.
        const live = await readOwnedConfig(props);
        if (live === undefined) {
            return { id, props };
        }
        const refreshed = { ...props, config: live };
        return { id, props: refreshed, inputs: refreshed };
    },
    async delete() {
        // The DCS goes away with the etcd containers; a lone delete must not wipe a running cluster's config.
    },
};

/**
 * Patroni's cluster-wide configuration as a resource of its own. It is seeded into the DCS before any
 * node starts (nodes depend on it) and changed on a running cluster through the REST API, so a
 * parameter or timing change never replaces a container.
 */
export class PatroniDynamicConfig extends pulumi.dynamic.Resource {
    constructor(name: string, args: PatroniDynamicConfigArgs, opts?: pulumi.CustomResourceOptions) {
        super(dynamicConfigProvider, name, { timeoutSeconds: 300, ...args }, { ...opts, additionalSecretOutputs: ["apiPassword"] });
    }
}
