// node-postgres settings for the stack's connection strings.
import type { ClientConfig } from "pg";
import { checkServerIdentity, PeerCertificate } from "tls";

/** The file name the stack's connection strings give as sslrootcert (`<stack>-ca.pem`), relative to where the client runs. */
export function caCertificateFile(stack: string): string {
    return `${stack}-ca.pem`;
}

/** libpq's sslmode values that verify the server's certificate against a CA. */
const VERIFYING = new Set(["verify-ca", "verify-full"]);

/**
 * The stack's connection strings ask for `sslmode=verify-full` with `sslrootcert=<file>` (a file the
 * client saves caCertificate in). The stack's own tools hold the CA itself (the caCertificate output), so
 * they pass it instead of reading a file: the same check (the certificate chains to the CA and, for
 * verify-full, names the host dialled). A string without sslmode (the PITR
 * instance's, an older stack's) is used as it is.
 */
export function pgConfig(connectionString: string, caCertificate: string | undefined, extra: Omit<ClientConfig, "ssl"> = {}): ClientConfig {
    const url = new URL(connectionString);
    const mode = url.searchParams.get("sslmode");
    if (mode === null) {
        return { ...extra, connectionString };
    }
    url.searchParams.delete("sslmode");
    url.searchParams.delete("sslrootcert");
    if (!VERIFYING.has(mode)) {
        throw new Error(`sslmode=${mode}: the stack's tools connect only with verify-ca or verify-full`);
    }
    if (!caCertificate) {
        throw new Error("the connection string asks for a verified certificate and no caCertificate was given");
    }
    // node-postgres names no server when the host is an IP address, and Node then checks the certificate
    // for "localhost": the name is checked here against the host dialled, as libpq does.
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const ssl = {
        ca: caCertificate,
        rejectUnauthorized: true,
        checkServerIdentity:
            mode === "verify-full" ? (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert) : () => undefined,
    };
    return { ...extra, connectionString: url.toString(), ssl };
}
