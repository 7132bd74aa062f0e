import { strict as assert } from "assert";
import { parseOutputs, UsageError } from "../../../ops/outputs";

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
});
