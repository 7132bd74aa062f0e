import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseOutputs, readOutputs, UsageError } from "../../../ops/outputs";

const full = {
    barmanContainer: "dev-barman",
    superuserConnectionString: "postgresql://postgres:x@127.0.0.1:5551/postgres",
    patroniApiUrls: ["http://127.0.0.1:8001"],
};

describe("operator commands: reading stack outputs", () => {
    it("accepts pulumi's multi-line JSON", () => {
        assert.equal(parseOutputs(JSON.stringify(full, null, 2), ["barmanContainer"]).barmanContainer, "dev-barman");
    });
    it("accepts e2e:up's output, whose last line is the JSON object", () => {
        const text = `progress line\nanother\n${JSON.stringify(full)}\n`;
        assert.deepEqual(parseOutputs(text, ["patroniApiUrls"]).patroniApiUrls, ["http://127.0.0.1:8001"]);
    });
    it("asks for --show-secrets when a needed value is hidden", () => {
        assert.throws(
            () => parseOutputs(JSON.stringify({ ...full, superuserConnectionString: "[secret]" }), ["superuserConnectionString"]),
            (e: Error) => e instanceof UsageError && /superuserConnectionString is shown as \[secret\].*--show-secrets/.test(e.message),
        );
    });
    it("names missing outputs and rejects what is not JSON", () => {
        assert.throws(() => parseOutputs(JSON.stringify({ a: 1 }), ["barmanContainer"]), /lack barmanContainer/);
        assert.throws(() => parseOutputs("not json at all", ["barmanContainer"]), /not a JSON object/);
    });

    it("refuses an outputs file other users can read, saying chmod 600", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "outputs-"));
        const file = path.join(dir, "outputs.json");
        fs.writeFileSync(file, JSON.stringify(full));
        fs.chmodSync(file, 0o644);
        assert.throws(
            () => readOutputs(["--outputs", file], ["barmanContainer"]),
            (e: Error) => e instanceof UsageError && /mode 0644/.test(e.message) && e.message.includes(`chmod 600 ${file}`),
        );
        fs.chmodSync(file, 0o600);
        assert.equal(readOutputs(["--outputs", file], ["barmanContainer"]).barmanContainer, "dev-barman");
        fs.rmSync(dir, { recursive: true });
    });

    describe("without --outputs: straight from the stack (a fake pulumi on PATH)", () => {
        let dir: string;
        const saved = { PATH: process.env.PATH, PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE, STACK: process.env.STACK };
        beforeEach(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "fakepulumi-"));
            fs.writeFileSync(
                path.join(dir, "pulumi"),
                `#!/bin/sh\necho "$*" >> ${dir}/calls\n[ "$3" = gone ] && { echo "no stack named gone" >&2; exit 255; }\n` +
                    `[ "$2" = output ] && echo '${JSON.stringify(full)}'\nexit 0\n`,
                { mode: 0o755 },
            );
            fs.writeFileSync(path.join(dir, "docker"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
            process.env.PATH = `${dir}:${saved.PATH}`;
            // A passphrase given, so the script generates none in the checkout.
            process.env.PULUMI_CONFIG_PASSPHRASE = "test";
            delete process.env.STACK;
        });
        afterEach(() => {
            for (const [k, v] of Object.entries(saved)) {
                if (v === undefined) {
                    delete process.env[k];
                } else {
                    process.env[k] = v;
                }
            }
            fs.rmSync(dir, { recursive: true });
        });
        const calls = () => fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n");

        it("reads the dev stack by default, --stack another, through npm run outputs' local backend", () => {
            assert.equal(readOutputs([], ["barmanContainer"]).barmanContainer, "dev-barman");
            assert.deepEqual(calls(), ["stack select dev", "stack output --json --show-secrets --stack dev"]);
            readOutputs(["--stack", "prod"], ["barmanContainer"]);
            assert.equal(calls().at(-1), "stack output --json --show-secrets --stack prod");
        });

        it("names the stack and the way out when it cannot read it", () => {
            assert.throws(
                () => readOutputs(["--stack", "gone"], ["barmanContainer"]),
                (e: Error) => e instanceof UsageError && /stack gone .*no stack named gone.*--outputs FILE/.test(e.message),
            );
        });
    });
});
