// lib/pg: the stack's tools connect with the CA they hold, with the check the connection string asks for.
// A real TLS handshake with node-postgres against a server speaking PostgreSQL's SSLRequest, with
// certificates openssl mints (tests/support/certificates.ts).
import { strict as assert } from "assert";
import * as net from "net";
import * as tls from "tls";
import { Client } from "pg";
import { caCertificateFile, pgConfig } from "../../../lib/pg";
import { postgresUri } from "../../../lib/net";
import { authority, loopbackServerCases, serverCert } from "../../support/certificates";

/**
 * A server that answers PostgreSQL's SSLRequest with 'S', then TLS with `identity`; it notes whether a
 * handshake completed (a client that rejects the certificate aborts it) and then hangs up.
 */
async function tlsServer(identity: { key: string; cert: string }): Promise<{ port: number; handshakes: () => number; close: () => void }> {
    let handshakes = 0;
    const secure = tls.createSecureContext(identity);
    const server = net.createServer(socket => {
        socket.once("data", () => {
            socket.write("S");
            const t = new tls.TLSSocket(socket, { isServer: true, secureContext: secure });
            t.on("secure", () => {
                handshakes++;
                t.destroy();
            });
            t.on("error", () => socket.destroy());
        });
        socket.on("error", () => undefined);
    });
    await new Promise<void>(r => server.listen(0, "127.0.0.1", r));
    return { port: (server.address() as net.AddressInfo).port, handshakes: () => handshakes, close: () => server.close() };
}

/** Connect with node-postgres; the error text (a handshake that succeeds still fails: the server hangs up). */
async function attempt(connectionString: string, ca: string): Promise<string> {
    const client = new Client(pgConfig(connectionString, ca, { connectionTimeoutMillis: 3000 }));
    client.on("error", () => undefined);
    try {
        await client.connect();
        await client.end();
        return "connected";
    } catch (e) {
        return e instanceof Error ? e.message : String(e);
    }
}

describe("lib/pg: node-postgres settings for the stack's connection strings", () => {
    const ca = authority("stack CA");
    const uri = (port: number, sslmode: string) =>
        postgresUri("app", "pw", `127.0.0.1:${port}`, "app", { sslmode, sslrootcert: caCertificateFile("s") });

    it("verify-full: the stack's certificate for the address dialled passes; another CA's, or one for another address, is refused", async () => {
        // The third case: node-postgres alone checks "localhost" for an IP host, and would let it through.
        const loopback = loopbackServerCases();
        for (const { identity, passes } of loopback.cases) {
            const server = await tlsServer(identity);
            try {
                const error = await attempt(uri(server.port, "verify-full"), loopback.ca.cert);
                assert.equal(server.handshakes(), passes ? 1 : 0, error);
                if (!passes) {
                    assert.match(error, /certificate|altnames|IP/i);
                }
            } finally {
                server.close();
            }
        }
    });

    it("verify-ca checks the CA but not the name; the file named in sslrootcert is not read", async () => {
        const server = await tlsServer(serverCert(ca, ["10.1.2.3"]));
        try {
            await attempt(uri(server.port, "verify-ca"), ca.cert);
            assert.equal(server.handshakes(), 1);
        } finally {
            server.close();
        }
    });

    it("refuses to weaken what the string asks for, and leaves a string without sslmode as it is", () => {
        assert.throws(() => pgConfig(uri(5432, "disable"), ca.cert), /verify-ca or verify-full/);
        assert.throws(() => pgConfig(uri(5432, "require"), ca.cert), /verify-ca or verify-full/);
        assert.throws(() => pgConfig(uri(5432, "verify-full"), undefined), /no caCertificate/);
        const plain = "postgresql://postgres:pw@127.0.0.1:5554/postgres";
        assert.deepEqual(pgConfig(plain, undefined), { connectionString: plain });
        assert.doesNotMatch(String(pgConfig(uri(5432, "verify-full"), ca.cert).connectionString), /ssl/);
    });
});
