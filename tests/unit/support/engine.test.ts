// Pins the provider input names the e2e harness maps: a provider upgrade that renames one fails here.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { MAPPED_INPUTS, unwrapSecrets } from "../../support/engine";
import { runProgram } from "../../support/program";

const DECLARATIONS: Record<string, [string, string]> = {
    "docker:index/network:Network": ["@pulumi/docker/network.d.ts", "NetworkArgs"],
    "docker:index/volume:Volume": ["@pulumi/docker/volume.d.ts", "VolumeArgs"],
    "docker:index/image:Image": ["@pulumi/docker/image.d.ts", "ImageArgs"],
    "docker:index/container:Container": ["@pulumi/docker/container.d.ts", "ContainerArgs"],
    "random:index/randomPassword:RandomPassword": ["@pulumi/random/randomPassword.d.ts", "RandomPasswordArgs"],
    "tls:index/privateKey:PrivateKey": ["@pulumi/tls/privateKey.d.ts", "PrivateKeyArgs"],
    "tls:index/selfSignedCert:SelfSignedCert": ["@pulumi/tls/selfSignedCert.d.ts", "SelfSignedCertArgs"],
    "tls:index/certRequest:CertRequest": ["@pulumi/tls/certRequest.d.ts", "CertRequestArgs"],
    "tls:index/locallySignedCert:LocallySignedCert": ["@pulumi/tls/locallySignedCert.d.ts", "LocallySignedCertArgs"],
};

function declaredInputs(file: string, iface: string): string[] {
    const text = fs.readFileSync(path.join(__dirname, "..", "..", "..", "node_modules", file), "utf8");
    const start = text.indexOf(`export interface ${iface} {`);
    assert.ok(start >= 0, `${iface} not found in ${file}`);
    const body = text.slice(start, text.indexOf("\n}", start));
    return [...body.matchAll(/^\s{4}(\w+)\??:/gm)].map(m => m[1]);
}

describe("e2e harness: provider input names", () => {
    it("maps every input the program gives the resource types it handles (an unmapped one fails an e2e deploy)", async () => {
        const configs = [{}, { barman: { mode: "rsync" }, prometheus: true, alertmanager: { webhookUrl: "http://127.0.0.1:1/" } }];
        for (const config of configs) {
            const run = await runProgram(config, "mapped");
            for (const r of run.resources) {
                const known = MAPPED_INPUTS[r.type];
                if (known) {
                    const given = Object.keys(r.inputs).filter(k => r.inputs[k] !== undefined && !k.startsWith("__"));
                    assert.deepEqual(
                        given.filter(k => !known.includes(k)),
                        [],
                        `${r.type} ${r.name}`,
                    );
                }
            }
        }
    });

    for (const [type, names] of Object.entries(MAPPED_INPUTS)) {
        it(`every input the harness maps for ${type} is declared by the provider`, () => {
            const [file, iface] = DECLARATIONS[type];
            const declared = declaredInputs(file, iface);
            assert.ok(declared.length >= 3, `could not read ${iface}`);
            assert.deepEqual(
                names.filter(n => !declared.includes(n)),
                [],
            );
        });
    }

    it("the nested input names it reads exist too", () => {
        const types = fs.readFileSync(path.join(__dirname, "..", "..", "..", "node_modules", "@pulumi/docker/types/input.d.ts"), "utf8");
        for (const [iface, fields] of Object.entries({
            ContainerUpload: ["file", "content", "executable"],
            ContainerPort: ["internal", "external", "ip"],
            ContainerVolume: ["volumeName", "containerPath", "readOnly"],
            ContainerNetworksAdvanced: ["name", "ipv4Address", "aliases"],
            ContainerHealthcheck: ["tests", "interval", "timeout", "retries", "startPeriod"],
            ContainerLabel: ["label", "value"],
            NetworkIpamConfig: ["subnet", "gateway"],
            DockerBuild: ["context", "dockerfile", "args"],
        })) {
            const start = types.indexOf(`export interface ${iface} {`);
            assert.ok(start >= 0, iface);
            const body = types.slice(start, types.indexOf("\n}", start));
            for (const f of fields) {
                assert.match(body, new RegExp(`^\\s{4}${f}\\??:`, "m"), `${iface}.${f}`);
            }
        }
    });

    it("the key state it produces for tls.PrivateKey uses the provider's output names", () => {
        const text = fs.readFileSync(path.join(__dirname, "..", "..", "..", "node_modules", "@pulumi/tls/privateKey.d.ts"), "utf8");
        for (const out of ["privateKeyOpenssh", "publicKeyOpenssh"]) {
            assert.match(text, new RegExp(`readonly ${out}: pulumi.Output<string>`));
        }
    });

    it("unwraps secrets at any depth", () => {
        const secret = (value: unknown) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value });
        assert.deepEqual(unwrapSecrets({ a: secret(["x", secret("y")]), b: [{ c: secret(1) }] }), { a: ["x", "y"], b: [{ c: 1 }] });
    });
});
