// components/etcdRolloutStep.ts: etcd members are replaced one at a time, each serving again before the next.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { PatroniCluster } from "../../../components/cluster";
import { etcdRolloutStepProvider, EtcdRolloutStepState } from "../../../components/etcdRolloutStep";
import { parseConfig } from "../../../config";
import { declareUnderMocks } from "../../support/program";

describe("etcd rollout: one member at a time", () => {
    it("member n's container waits for its step, and the step for member n-1's container", async () => {
        const deps = new Map<string, string[]>();
        const record: pulumi.ResourceTransformation = a => {
            const on = ([] as unknown[]).concat(a.opts.dependsOn ?? []) as pulumi.Resource[];
            deps.set(
                a.name,
                on.map(r => (r as unknown as { __name?: string }).__name ?? "?"),
            );
            return undefined;
        };
        const declared = await declareUnderMocks("chain", () => {
            new PatroniCluster("cluster", { spec: parseConfig({ etcdNodes: 3 }, "chain").spec }, { transformations: [record] });
        });
        assert.deepEqual(deps.get("cluster-etcd-rollout-etcd1"), []);
        assert.deepEqual(deps.get("cluster-etcd-rollout-etcd2"), ["cluster-etcd-etcd1"]);
        assert.deepEqual(deps.get("cluster-etcd-rollout-etcd3"), ["cluster-etcd-etcd2"]);
        const step3 = declared.find(d => d.name === "cluster-etcd-rollout-etcd3")!;
        assert.equal((step3.inputs.previous as { member: string }).member, "etcd2");
        assert.equal((step3.inputs.previous as { container: string }).container, "chain-etcd2");
        assert.match((step3.inputs.previous as { fingerprint: string }).fingerprint, /^[0-9a-f]{64}$/);
    });

    describe("an update, with a stand-in `docker` on PATH", () => {
        let dir: string;
        let savedPath: string | undefined;
        beforeEach(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-docker-"));
            // Answers etcd-v3 kv/range only once `serving` exists, and logs every call.
            fs.writeFileSync(
                path.join(dir, "docker"),
                `#!/bin/sh\necho "$*" >> ${dir}/calls\n[ -e ${dir}/serving ] || { echo "etcdserver: request timed out" >&2; exit 1; }\necho '{"header":{"revision":"1"}}'\n`,
                { mode: 0o755 },
            );
            savedPath = process.env.PATH;
            process.env.PATH = `${dir}:${process.env.PATH}`;
        });
        afterEach(() => {
            process.env.PATH = savedPath;
            fs.rmSync(dir, { recursive: true, force: true });
        });
        const calls = () =>
            fs.existsSync(path.join(dir, "calls")) ? fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n") : [];
        const state = (fingerprint: string, timeoutSeconds = 5): EtcdRolloutStepState => ({
            member: "etcd2",
            previous: { member: "etcd1", container: "s-etcd1", fingerprint },
            timeoutSeconds,
        });

        it("waits until the replaced previous member serves a linearizable read again", async () => {
            setTimeout(() => fs.writeFileSync(path.join(dir, "serving"), ""), 1200);
            const started = Date.now();
            await etcdRolloutStepProvider.update!("id", state("a"), state("b"));
            assert.ok(Date.now() - started >= 1100, `returned after ${Date.now() - started} ms`);
            assert.ok(calls().length >= 2);
            assert.ok(
                calls().every(c => c === "exec -i s-etcd1 etcd-v3 kv/range"),
                calls().join("\n"),
            );
        });

        it("gives up naming the member; waits for nothing when the previous member was not replaced", async () => {
            await assert.rejects(etcdRolloutStepProvider.update!("id", state("a", 1), state("b", 1)), /etcd1 serving again.*timed out/);
            fs.rmSync(path.join(dir, "calls"));
            await etcdRolloutStepProvider.update!("id", state("a", 1), state("a", 1));
            assert.deepEqual(calls(), []);
        });

        it("serializes without local requires", async () => {
            const serialized = await pulumi.runtime.serializeFunction(() => etcdRolloutStepProvider, { isFactoryFunction: true });
            assert.match(serialized.text, /waitMemberServing/);
            assert.deepEqual(serialized.text.match(/require\(["'][./][^"']*["']\)/g) ?? [], [], "requires a local module");
        });
    });
});
