// Test-only: what @pulumi/tls does for the stack (keys, the CA, requests, signed certificates), done with
// the openssl CLI so that the harness deploys real certificates. Never used by the program.
import { spawnSync } from "child_process";
import { generateKeyPairSync, randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

type Subject = { commonName?: string; organization?: string };

const KEY_USAGE: Record<string, string> = {
    digital_signature: "digitalSignature",
    key_encipherment: "keyEncipherment",
    cert_signing: "keyCertSign",
    crl_signing: "cRLSign",
};
const EXTENDED: Record<string, string> = { server_auth: "serverAuth", client_auth: "clientAuth" };

/** Run openssl with files in a scratch folder (`files` written first); the named output file's text. */
function openssl(files: Record<string, string>, args: string[], output: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "harness-tls-"));
    try {
        for (const [name, content] of Object.entries(files)) {
            fs.writeFileSync(path.join(dir, name), content, { mode: 0o600 });
        }
        const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
        if (r.status !== 0) {
            throw new Error(`openssl ${args[0]}: ${r.stderr || r.error}`);
        }
        return fs.readFileSync(path.join(dir, output), "utf8");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

function reqConfig(subject: Subject, ext: string[]): string {
    const dn = [...(subject.organization ? [`O = ${subject.organization}`] : []), `CN = ${subject.commonName ?? "unnamed"}`];
    return ["[req]", "distinguished_name = dn", "prompt = no", "[dn]", ...dn, "[ext]", ...ext, ""].join("\n");
}

function usageLines(uses: string[]): string[] {
    const ku = uses.filter(u => KEY_USAGE[u]).map(u => KEY_USAGE[u]);
    const eku = uses.filter(u => EXTENDED[u]).map(u => EXTENDED[u]);
    return [...(ku.length ? [`keyUsage = critical,${ku.join(",")}`] : []), ...(eku.length ? [`extendedKeyUsage = ${eku.join(",")}`] : [])];
}

const days = (hours: number) => String(Math.max(1, Math.ceil(hours / 24)));

/** An ECDSA key as @pulumi/tls gives it: SEC1 PEM ("EC PRIVATE KEY"). */
export function ecdsaPrivateKey(curve: string): string {
    const namedCurve = { P224: "P-224", P256: "P-256", P384: "P-384", P521: "P-521" }[curve] ?? "P-256";
    return generateKeyPairSync("ec", { namedCurve }).privateKey.export({ type: "sec1", format: "pem" }).toString();
}

/** tls.SelfSignedCert. */
export function selfSignedCert(i: {
    privateKeyPem: string;
    subject: Subject;
    validityPeriodHours: number;
    isCaCertificate?: boolean;
    allowedUses: string[];
}): string {
    const ext = [
        ...(i.isCaCertificate ? ["basicConstraints = critical,CA:TRUE"] : []),
        "subjectKeyIdentifier = hash",
        ...usageLines(i.allowedUses),
    ];
    return openssl(
        { "key.pem": i.privateKeyPem, "req.cnf": reqConfig(i.subject, ext) },
        [
            "req",
            "-x509",
            "-new",
            "-key",
            "key.pem",
            "-config",
            "req.cnf",
            "-extensions",
            "ext",
            "-days",
            days(i.validityPeriodHours),
            "-out",
            "cert.pem",
        ],
        "cert.pem",
    );
}

/** tls.CertRequest: the subject and the alternative names. */
export function certRequest(i: { privateKeyPem: string; subject: Subject; dnsNames?: string[]; ipAddresses?: string[] }): string {
    const san = [...(i.dnsNames ?? []).map(d => `DNS:${d}`), ...(i.ipAddresses ?? []).map(a => `IP:${a}`)];
    return openssl(
        {
            "key.pem": i.privateKeyPem,
            "req.cnf": reqConfig(i.subject, san.length ? [`subjectAltName = ${san.join(",")}`] : ["basicConstraints = CA:FALSE"]),
        },
        ["req", "-new", "-key", "key.pem", "-config", "req.cnf", "-reqexts", "ext", "-out", "req.pem"],
        "req.pem",
    );
}

/** tls.LocallySignedCert: the request's names, the given usages, signed by the CA. */
export function locallySignedCert(i: {
    certRequestPem: string;
    caPrivateKeyPem: string;
    caCertPem: string;
    validityPeriodHours: number;
    allowedUses: string[];
}): string {
    const ext = ["[ext]", "basicConstraints = critical,CA:FALSE", "authorityKeyIdentifier = keyid", ...usageLines(i.allowedUses), ""].join(
        "\n",
    );
    return openssl(
        { "req.pem": i.certRequestPem, "ca.pem": i.caCertPem, "cakey.pem": i.caPrivateKeyPem, "ext.cnf": ext },
        [
            "x509",
            "-req",
            "-in",
            "req.pem",
            "-CA",
            "ca.pem",
            "-CAkey",
            "cakey.pem",
            "-set_serial",
            `0x${randomBytes(16).toString("hex")}`,
            "-days",
            days(i.validityPeriodHours),
            "-copy_extensions",
            "copyall",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "ext",
            "-out",
            "cert.pem",
        ],
        "cert.pem",
    );
}

/**
 * An intruder's identity: a key and a certificate, with every usage a server could want, from a CA of its
 * own (not the stack's). A stack part that checks client certificates must refuse it.
 */
export function foreignClientIdentity(): { key: string; cert: string } {
    const ca = authority("intruder CA");
    const key = ecdsaPrivateKey("P256");
    const cert = locallySignedCert({
        certRequestPem: certRequest({ privateKeyPem: key, subject: { commonName: "root" }, dnsNames: ["intruder"] }),
        caPrivateKeyPem: ca.key,
        caCertPem: ca.cert,
        validityPeriodHours: 24,
        allowedUses: ["digital_signature", "key_encipherment", "client_auth", "server_auth"],
    });
    return { key, cert };
}

/** A CA of its own (key and certificate, PEM), valid a day. */
export function authority(name: string): { key: string; cert: string } {
    const key = ecdsaPrivateKey("P256");
    const cert = selfSignedCert({
        privateKeyPem: key,
        subject: { commonName: name },
        validityPeriodHours: 24,
        isCaCertificate: true,
        allowedUses: ["cert_signing", "digital_signature"],
    });
    return { key, cert };
}

/** A server certificate from `ca` for these addresses and names. */
export function serverCert(
    ca: { key: string; cert: string },
    ipAddresses: string[],
    dnsNames: string[] = [],
): { key: string; cert: string } {
    const key = ecdsaPrivateKey("P256");
    const cert = locallySignedCert({
        certRequestPem: certRequest({ privateKeyPem: key, subject: { commonName: "db1" }, ipAddresses, dnsNames }),
        caPrivateKeyPem: ca.key,
        caCertPem: ca.cert,
        validityPeriodHours: 24,
        allowedUses: ["digital_signature", "server_auth"],
    });
    return { key, cert };
}

/**
 * What a verifying client (verify-full, HTTPS) must make of a loopback server: the stack CA's certificate for
 * 127.0.0.1 passes; another CA's, and the stack's for another address that is named "localhost" (what a
 * client checks when it forgets the host it dialled), are refused. A fresh stack CA and server certificates.
 */
export function loopbackServerCases(): {
    ca: { key: string; cert: string };
    cases: { identity: { key: string; cert: string }; passes: boolean }[];
} {
    const ca = authority("stack CA");
    const other = authority("another CA");
    return {
        ca,
        cases: [
            { identity: serverCert(ca, ["127.0.0.1"]), passes: true },
            { identity: serverCert(other, ["127.0.0.1"]), passes: false },
            { identity: serverCert(ca, ["10.1.2.3"], ["localhost"]), passes: false },
        ],
    };
}
