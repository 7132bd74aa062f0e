import * as pulumi from "@pulumi/pulumi";
import { leaderName, MemberEndpoint } from "../lib/patroniApi";
import { previousInOrder, rolloutOrder, RolloutStep } from "./rolloutStep";

/** A node as the rollout sees it. */
export interface RolloutNode extends MemberEndpoint {
    /** The node's Docker name (the role passwords are set through `docker exec` on the leader). */
    containerName: string;
    /** The node's container: the next step in the order waits for it. */
    container: pulumi.Resource;
    /** Digest of every input of the container (PatroniNode.fingerprint). */
    fingerprint: pulumi.Input<string>;
}

export interface PatroniRolloutArgs {
    /** Every node in program order (db1 first). */
    nodes: RolloutNode[];
    /** The stack's CA certificate (PEM): the REST API's certificates are verified against it. */
    caCertificate: pulumi.Input<string>;
    /** REST API user and password for POST /switchover. */
    apiUser: pulumi.Input<string>;
    apiPassword: pulumi.Input<string>;
    /** Role passwords by patroni-entrypoint's names (superuser, replication, …): set on the leader when one changes. */
    rolePasswords: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** The application's role and database (created on the leader with the passwords, when missing). */
    app: { user: string; database: string };
    /**
     * The leader when the deploy starts (undefined: none known, e.g. a new stack). Default: asked from the
     * members' REST API, verified against the CA; tests pass their own.
     */
    leader?: pulumi.Input<string | undefined>;
}

/** The current leader from the first member that answers /cluster; undefined when none answers (a new stack). */
export function currentLeader(members: MemberEndpoint[], ca: string): Promise<string | undefined> {
    return leaderName(
        members.map(m => m.apiUrl),
        2000,
        ca,
    ).catch(() => undefined);
}

/**
 * Replaces the Patroni containers one at a time, the way an operator would: replicas first, each running
 * and streaming again before the next goes, then a switchover to a streaming replica, then the old leader.
 * A chain of RolloutStep resources does it; node n's container depends on step n, and step n on the
 * container of the node before it in the order (the leader when the deploy starts comes last). A step does
 * something only when a fingerprint changed, so `pulumi preview` lists the steps that will run next to the
 * containers they gate, and a deploy that replaces no container runs none.
 */
export class PatroniRollout extends pulumi.ComponentResource {
    /** The step that gates each node's container, by node name. */
    public readonly steps: Record<string, RolloutStep> = {};
    /** The step after the last node: the deploy ends once it runs and streams again. */
    public readonly done: RolloutStep;
    /** The order of this deploy. */
    public readonly order: pulumi.Output<string[]>;

    constructor(name: string, args: PatroniRolloutArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:PatroniRollout", name, {}, opts);
        const names = args.nodes.map(n => n.name);
        const endpoints = args.nodes.map(n => ({ name: n.name, apiUrl: n.apiUrl }));
        const leader =
            args.leader !== undefined
                ? pulumi.output(args.leader)
                : pulumi.output(args.caCertificate).apply(ca => currentLeader(endpoints, ca));
        this.order = leader.apply(l => rolloutOrder(names, l));
        const fingerprints = pulumi.all(Object.fromEntries(args.nodes.map(n => [n.name, n.fingerprint])));
        const containerOf = Object.fromEntries(args.nodes.map(n => [n.name, n.container]));
        const step = (stepName: string, member: string | undefined) =>
            new RolloutStep(
                stepName,
                {
                    member,
                    order: this.order,
                    fingerprints,
                    members: endpoints,
                    caCertificate: args.caCertificate,
                    apiUser: args.apiUser,
                    apiPassword: args.apiPassword,
                    rolePasswords: pulumi.secret(args.rolePasswords),
                    app: args.app,
                    containers: Object.fromEntries(args.nodes.map(n => [n.name, n.containerName])),
                },
                {
                    parent: this,
                    dependsOn: this.order.apply(o => {
                        const previous = previousInOrder(o, member);
                        return previous === undefined ? [] : [containerOf[previous]];
                    }),
                },
            );
        for (const n of names) {
            this.steps[n] = step(`${name}-${n}`, n);
        }
        this.done = step(`${name}-done`, undefined);
        this.registerOutputs({ order: this.order });
    }
}
