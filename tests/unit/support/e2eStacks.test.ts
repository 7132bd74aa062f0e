// The e2e stacks' table: no two stacks share a subnet or a host port, so suites never collide (and a
// leftover of one never blocks another): CI runs two suites at a time. The e2e config names its suites
// (longest first, so the two workers finish together): none may be left out.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { parseConfig } from "../../../config";
import { defaultServiceSubnet, defaultSubnet } from "../../../configSchema";
import { CONFIG_CHECKS, E2E_STACKS, E2eStack } from "../../support/e2eStacks";

/** Every host port a stack publishes with up to 4 nodes and 3 etcd members (the largest suite). */
function hostPorts(ports: Record<string, number>): number[] {
    const { postgresBase, apiBase, etcdBase, ...fixed } = ports;
    return [...Object.values(fixed), ...[1, 2, 3, 4].flatMap(n => [postgresBase + n, apiBase + n]), ...[1, 2, 3].map(n => etcdBase + n)];
}

describe("e2e harness: the stacks' table", () => {
    const stacks: E2eStack[] = Object.values(E2E_STACKS);

    it("every stack's config is valid, and no two stacks share a subnet (either network's)", () => {
        const subnets = stacks.flatMap(s => [s.subnet ?? defaultSubnet(s.stack), s.serviceSubnet ?? defaultServiceSubnet(s.stack)]);
        subnets.push(CONFIG_CHECKS.subnet, defaultServiceSubnet(CONFIG_CHECKS.tag));
        assert.deepEqual(
            subnets.filter((x, i) => subnets.indexOf(x) !== i),
            [],
        );
        for (const s of stacks) {
            assert.doesNotThrow(
                () =>
                    parseConfig(
                        { ports: s.ports, subnet: s.subnet ?? "", serviceSubnet: s.serviceSubnet ?? "", prometheus: true, patroniNodes: 4 },
                        s.stack,
                    ),
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

    it("the e2e config runs every suite once, two at a time", () => {
        const root = path.join(__dirname, "..", "..", "..");
        const rc = JSON.parse(fs.readFileSync(path.join(root, ".mocharc.e2e.json"), "utf8"));
        const suites = fs
            .readdirSync(path.join(root, "tests", "e2e"))
            .filter(f => f.endsWith(".e2e.ts"))
            .map(f => `tests/e2e/${f}`);
        assert.deepEqual([...rc.spec].sort(), suites.sort());
        assert.equal(rc.parallel, true);
        assert.equal(rc.jobs, 2);
    });
});
