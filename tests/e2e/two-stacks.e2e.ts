// Scenario 10: two stacks with different names and ports side by side on one engine.
import { strict as assert } from "assert";
import { docker } from "../support/docker";
import { deployStack, destroyStack, query } from "../support/stack";
import { log, stackFile } from "../support/helpers";

describe("e2e: two stacks side by side", function () {
    this.timeout(600_000);
    const stacks = [
        {
            name: "e2e-blue",
            ports: {
                write: 26551,
                read: 26552,
                stats: 26553,
                postgresBase: 26430,
                apiBase: 26800,
                etcdBase: 26890,
                pitr: 26554,
                metrics: 26187,
                barmanMetrics: 26780,
            },
        },
        {
            name: "e2e-green",
            ports: {
                write: 27551,
                read: 27552,
                stats: 27553,
                postgresBase: 27430,
                apiBase: 27800,
                etcdBase: 27890,
                pitr: 27554,
                metrics: 27187,
                barmanMetrics: 27780,
            },
        },
    ];
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
