// components/docker.ts: the container fingerprint that tells a rollout step which containers a deploy replaces.
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { containerFingerprint } from "../../../components/docker";

const value = (o: pulumi.Output<string>) => new Promise<string>(r => o.apply(v => (r(v), v)));

describe("containerFingerprint", () => {
    const base = { name: "s-db1", image: "sha256:aaa", envs: [pulumi.secret("PW=one")], memory: 512 };

    it("changes with any input (a rebuilt image, a secret, a limit) and not with key order; never secret", async () => {
        const fp = await value(containerFingerprint(base));
        assert.match(fp, /^[0-9a-f]{64}$/);
        assert.equal(
            await value(containerFingerprint({ memory: 512, envs: [pulumi.secret("PW=one")], image: "sha256:aaa", name: "s-db1" })),
            fp,
        );
        for (const changed of [
            { ...base, image: "sha256:bbb" },
            { ...base, envs: [pulumi.secret("PW=two")] },
            { ...base, memory: 1024 },
        ]) {
            assert.notEqual(await value(containerFingerprint(changed)), fp);
        }
        assert.equal(await pulumi.isSecret(containerFingerprint(base)), false);
        assert.ok(!fp.includes("one"));
    });
});
