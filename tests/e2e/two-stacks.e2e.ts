// Scenario 10: two stacks with different names and ports side by side on one engine.
import { strict as assert } from "assert";
import { docker } from "../support/docker";
import { deployStack, destroyStack, query } from "../support/stack";
import { log, stackFile } from "../support/helpers";
import { E2E_STACKS } from "../support/e2eStacks";

describe("e2e: two stacks side by side", function () {
    this.timeout(E2E_STACKS.blue.timeoutMs);
    const stacks = [E2E_STACKS.blue, E2E_STACKS.green].map(s => ({ name: s.stack, ports: s.ports }));
    after(async () => {
        for (const s of stacks) {
            await destroyStack(s.name);
        }
    });

    it("10. both run without collisions, each with its own data, and removing one leaves the other", async () => {
        const deployed = [];
        for (const s of stacks) {
            deployed.push(
                await deployStack(stackFile(s.name, { profile: "fast", patroniNodes: 2, etcdNodes: 1, ports: s.ports }), { log }),
            );
        }
        for (const [i, d] of deployed.entries()) {
            await query(d.outputs.writeConnectionString, "CREATE TABLE whoami (stack text)");
            await query(d.outputs.writeConnectionString, "INSERT INTO whoami VALUES ($1)", [stacks[i].name]);
        }
        for (const [i, d] of deployed.entries()) {
            const rows = await query<{ stack: string }>(d.outputs.writeConnectionString, "SELECT stack FROM whoami");
            assert.deepEqual(
                rows.map(r => r.stack),
                [stacks[i].name],
            );
            const names = (await docker(["ps", "--format", "{{.Names}}", "--filter", `label=patroni-ha.stack=${stacks[i].name}`]))
                .split("\n")
                .sort();
            assert.deepEqual(names, [
                `${stacks[i].name}-barman`,
                `${stacks[i].name}-db1`,
                `${stacks[i].name}-db2`,
                `${stacks[i].name}-etcd1`,
                `${stacks[i].name}-exporter`,
                `${stacks[i].name}-haproxy`,
            ]);
        }
        await destroyStack(stacks[0].name);
        const [r] = await query<{ n: string }>(deployed[1].outputs.writeConnectionString, "SELECT count(*) AS n FROM whoami");
        assert.equal(r.n, "1");
    });
});
