// components/etcdMembership.ts: a running stack's etcd member list cannot change through `pulumi up`.
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { etcdMembershipProvider, EtcdMembershipState } from "../../../components/etcdMembership";
import { declareUnderMocks } from "../../support/program";
import { PatroniCluster } from "../../../components/cluster";
import { parseConfig } from "../../../config";

const three: EtcdMembershipState = { members: ["etcd1", "etcd2", "etcd3"], peerScheme: "https" };
const five: EtcdMembershipState = { members: ["etcd1", "etcd2", "etcd3", "etcd4", "etcd5"], peerScheme: "https" };

describe("EtcdMembership: the etcd member list of a deployed stack", () => {
    it("check passes a first deploy and an unchanged list, and refuses a changed one, saying what to do", async () => {
        assert.equal((await etcdMembershipProvider.check!(undefined as never, three)).failures, undefined, "first deploy");
        assert.equal((await etcdMembershipProvider.check!({} as never, three)).failures, undefined, "no olds");
        assert.equal(
            (await etcdMembershipProvider.check!(three, { ...three, members: [...three.members] })).failures,
            undefined,
            "unchanged",
        );
        for (const [olds, news] of [
            [three, five],
            [five, three],
        ]) {
            const failures = (await etcdMembershipProvider.check!(olds, news)).failures ?? [];
            assert.equal(failures.length, 1);
            assert.equal(failures[0].property, "members");
            assert.match(
                failures[0].reason,
                new RegExp(
                    `etcdNodes cannot change on a running stack \\(from ${olds.members.length} to ${news.members.length} members\\)`,
                ),
            );
            assert.match(failures[0].reason, new RegExp(`Set patroni-ha:etcdNodes back to ${olds.members.length}`));
            assert.match(failures[0].reason, /Nothing was changed/);
        }
        assert.deepEqual(await etcdMembershipProvider.diff!("id", three, three), { changes: false });
    });

    it("check refuses to move a stack deployed with plain-HTTP etcd to TLS in place, saying why and where to read on", async () => {
        const plain = { members: three.members };
        const failures = (await etcdMembershipProvider.check!(plain, three)).failures ?? [];
        assert.equal(failures.length, 1);
        assert.equal(failures[0].property, "peerScheme");
        assert.match(
            failures[0].reason,
            /deployed without TLS.*peer addresses in its data volumes.*Nothing was changed.*docs\/security\.md/,
        );
        assert.equal((await etcdMembershipProvider.check!(undefined as never, three)).failures, undefined, "a new stack");
    });

    it("every etcd container depends on it, so a refusal comes before any member is touched", async () => {
        const deps = new Map<string, string[]>();
        const record: pulumi.ResourceTransformation = a => {
            const on = ([] as unknown[]).concat(a.opts.dependsOn ?? []) as pulumi.Resource[];
            deps.set(
                `${a.type} ${a.name}`,
                on.map(r => (r as unknown as { __name?: string }).__name ?? "?"),
            );
            return undefined;
        };
        await declareUnderMocks("guard", () => {
            new PatroniCluster("cluster", { spec: parseConfig({ etcdNodes: 3 }, "guard").spec }, { transformations: [record] });
        });
        for (const n of [1, 2, 3]) {
            assert.deepEqual(
                deps.get(`docker:index/container:Container cluster-etcd-etcd${n}`),
                ["cluster-etcd-membership", `cluster-etcd-rollout-etcd${n}`],
                `etcd${n}`,
            );
        }
    });

    it("serializes into a self-contained function, as the provider process needs", async () => {
        const serialized = await pulumi.runtime.serializeFunction(() => etcdMembershipProvider, { isFactoryFunction: true });
        assert.match(serialized.text, /membershipChangeRefusal/);
        assert.deepEqual(serialized.text.match(/require\(["'][./][^"']*["']\)/g) ?? [], [], "requires a local module");
    });
});
