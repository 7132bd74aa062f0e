// lib/patroniApi: the REST API over HTTPS, verified against the stack's CA, with a real TLS server and
// certificates openssl mints (tests/support/certificates.ts).
import { strict as assert } from "assert";
import * as https from "https";
import * as net from "net";
import { apiRequest, trustCa } from "../../../lib/patroniApi";
import { authority, loopbackServerCases, serverCert } from "../../support/certificates";

/** An HTTPS server on loopback answering every request with `{"ok": true}`. */
async function server(identity: { key: string; cert: string }): Promise<{ url: string; close: () => void }> {
    const s = https.createServer(identity, (_req, res) => {
        res.setHeader("content-type", "application/json");
        res.end('{"ok": true}');
    });
    await new Promise<void>(r => s.listen(0, "127.0.0.1", r));
    return { url: `https://127.0.0.1:${(s.address() as net.AddressInfo).port}`, close: () => s.close() };
}

describe("lib/patroniApi: the REST API over verified HTTPS", () => {
    const ca = authority("stack CA");
    const other = authority("another CA");

    it("answers with the stack's certificate for the address dialled; refuses another CA's, or one for another address", async () => {
        const loopback = loopbackServerCases();
        for (const { identity, passes } of loopback.cases) {
            const s = await server(identity);
            try {
                const r = apiRequest("GET", `${s.url}/health`, { ca: loopback.ca.cert, timeoutMs: 3000 });
                if (passes) {
                    assert.deepEqual((await r).json, { ok: true });
                } else {
                    await assert.rejects(r, /certificate|altnames|IP/i);
                }
            } finally {
                s.close();
            }
        }
    });

    it("with no CA given: only the CAs trusted from a stack's outputs (trustCa), never a stranger's", async () => {
        const s = await server(serverCert(ca, ["127.0.0.1"]));
        try {
            await assert.rejects(apiRequest("GET", `${s.url}/health`, { timeoutMs: 3000 }), /certificate/i, "before trustCa");
            trustCa(other.cert);
            await assert.rejects(apiRequest("GET", `${s.url}/health`, { timeoutMs: 3000 }), /certificate/i, "another stack's CA");
            trustCa(ca.cert);
            assert.equal((await apiRequest("GET", `${s.url}/health`, { timeoutMs: 3000 })).status, 200);
        } finally {
            s.close();
        }
    });

    it("a CA trusted through one load of the module is trusted by another (the e2e harness reloads the program's modules)", async () => {
        const own = authority("reloaded stack CA");
        const s = await server(serverCert(own, ["127.0.0.1"]));
        try {
            const file = require.resolve("../../../lib/patroniApi");
            delete require.cache[file];
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            const again = require(file) as typeof import("../../../lib/patroniApi");
            assert.notEqual(again.apiRequest, apiRequest, "a second instance of the module");
            trustCa(own.cert);
            assert.equal((await again.apiRequest("GET", `${s.url}/health`, { timeoutMs: 3000 })).status, 200);
        } finally {
            s.close();
        }
    });

    it("no answer is an error with its code (ECONNREFUSED: no Patroni listening)", async () => {
        const port = await new Promise<number>(r => {
            const probe = net.createServer().listen(0, "127.0.0.1", () => {
                const p = (probe.address() as net.AddressInfo).port;
                probe.close(() => r(p));
            });
        });
        await assert.rejects(
            apiRequest("GET", `http://127.0.0.1:${port}/health`, { timeoutMs: 3000 }),
            (e: { code?: string }) => e.code === "ECONNREFUSED",
        );
    });
});
