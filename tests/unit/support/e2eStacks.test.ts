// The e2e stacks' table: no two stacks share a subnet or a host port, so suites never collide (and a
// leftover of one never blocks another).
import { strict as assert } from "assert";
import { parseConfig } from "../../../config";
import { defaultSubnet } from "../../../configSchema";
import { CONFIG_CHECKS, E2E_STACKS, E2eStack } from "../../support/e2eStacks";

/** Every host port a stack publishes with up to 4 nodes and 3 etcd members (the largest suite). */
function hostPorts(ports: Record<string, number>): number[] {
    const { postgresBase, apiBase, etcdBase, ...fixed } = ports;
    return [...Object.values(fixed), ...[1, 2, 3, 4].flatMap(n => [postgresBase + n, apiBase + n]), ...[1, 2, 3].map(n => etcdBase + n)];
}

describe("e2e harness: the stacks' table", () => {
    const stacks: E2eStack[] = Object.values(E2E_STACKS);

    it("every stack's config is valid, and no two stacks share a subnet", () => {
        const subnets = stacks.map(s => s.subnet ?? defaultSubnet(s.stack));
        subnets.push(CONFIG_CHECKS.subnet);
        assert.deepEqual(
            subnets.filter((x, i) => subnets.indexOf(x) !== i),
            [],
        );
        for (const s of stacks) {
            assert.doesNotThrow(
                () => parseConfig({ ports: s.ports, subnet: s.subnet ?? "", prometheus: true, patroniNodes: 4 }, s.stack),
                s.stack,
            );
        }
    });

    it("no two stacks share a host port", () => {
        const owner = new Map<number, string>();
        for (const s of stacks) {
            for (const p of hostPorts(s.ports)) {
                assert.equal(owner.get(p), undefined, `${s.stack} and ${owner.get(p)} both publish ${p}`);
                owner.set(p, s.stack);
            }
        }
    });
});
