import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { CERTIFICATE_RENEW_DAYS, TLS_FILES, TLS_TMPFS } from "../configs/layout";

export interface StackCaArgs {
    /** Names the CA (`<stack> CA`) and is the organization of every certificate. */
    stack: string;
    /** Days every certificate, the CA's too, is valid (config tls.validityDays). */
    validityDays: number;
}

/** What one certificate is for and the names its clients use. */
export interface LeafSpec {
    /** Subject common name, e.g. "etcd1". */
    commonName: string;
    /** DNS names clients verify (container name, network alias, `localhost` for the container's own tools). */
    dnsNames: string[];
    /** IP addresses clients verify (the fixed address; the host addresses of published endpoints). */
    ipAddresses: string[];
    /** "server": it listens for TLS clients; "client": it presents itself to a peer that checks certificates. */
    usages: ("server" | "client")[];
}

/** A file the Docker provider copies into a container before it starts. */
export interface FileUpload {
    file: string;
    content: pulumi.Input<string>;
}

/** What a container with a certificate gets: the CA and its certificate as files, its key through `tls-key`. */
export interface ContainerTls {
    uploads: FileUpload[];
    /** `TLS_KEY_B64=...`, secret, a line of the container's secret file: `tls-key` writes it to a tmpfs at start (images/common/tls-key.sh). */
    keyEnv: pulumi.Output<string>;
    tmpfs: Record<string, string>;
}

/**
 * A stack member's certificate (etcd member or Patroni node): its name, its container's name and `localhost`;
 * its fixed address, loopback and the other addresses it is dialled on (the host address of its published
 * ports; for a node, also the write and read ports' addresses, as HAProxy passes TLS through to it). Server
 * and client.
 */
export function memberLeaf(name: string, containerName: string, address: string, otherAddresses: string[]): LeafSpec {
    return {
        commonName: name,
        dnsNames: [name, containerName, "localhost"],
        ipAddresses: [...new Set([address, "127.0.0.1", ...otherAddresses])],
        usages: ["server", "client"],
    };
}

const USAGES: Record<LeafSpec["usages"][number], string> = { server: "server_auth", client: "client_auth" };

/**
 * The stack's own certificate authority (ECDSA P-256, from @pulumi/tls) and the certificates it issues:
 * etcd, Patroni and the stack's tools trust this CA only, so a certificate from anywhere else gets nobody
 * in. Replacing the CA's key resource re-issues every certificate (docs/security.md, rotating).
 */
export class StackCa extends pulumi.ComponentResource {
    /** The CA certificate, PEM (public: clients need it to verify the stack). */
    public readonly certPem: pulumi.Output<string>;
    /** The CA certificate as a container upload: for parts that verify the stack's servers but hold no certificate. */
    public readonly caUpload: FileUpload;
    private readonly key: tls.PrivateKey;
    private readonly validityHours: number;
    /** Hours before the end at which the tls provider considers a certificate due (see renewal in docs/security.md). */
    private readonly renewalHours: number;
    private readonly organization: string;
    private readonly name: string;

    constructor(name: string, args: StackCaArgs, opts?: pulumi.ComponentResourceOptions) {
        super("patroni-ha:index:StackCa", name, {}, opts);
        this.name = name;
        this.validityHours = args.validityDays * 24;
        this.renewalHours = Math.min(CERTIFICATE_RENEW_DAYS * 24, Math.floor(this.validityHours / 2));
        this.organization = `patroni-ha ${args.stack}`;
        this.key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
        this.certPem = new tls.SelfSignedCert(
            `${name}-cert`,
            {
                privateKeyPem: this.key.privateKeyPem,
                subject: { commonName: `${args.stack} CA`, organization: this.organization },
                isCaCertificate: true,
                validityPeriodHours: this.validityHours,
                earlyRenewalHours: this.renewalHours,
                allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
            },
            { parent: this },
        ).certPem;
        this.caUpload = { file: TLS_FILES.ca, content: this.certPem };
        this.registerOutputs({ certPem: this.certPem });
    }

    /**
     * A certificate for `part` (its resources are named `<ca>-<part>-...`), signed by this CA, as a container
     * gets it: the CA and the certificate as files, the key as a `TLS_KEY_B64=` line for the container's secret file, which `tls-key` writes to a tmpfs.
     */
    public containerTls(part: string, leaf: LeafSpec): ContainerTls {
        const prefix = `${this.name}-${part}`;
        const key = new tls.PrivateKey(`${prefix}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
        const request = new tls.CertRequest(
            `${prefix}-csr`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: leaf.commonName, organization: this.organization },
                dnsNames: leaf.dnsNames,
                ipAddresses: leaf.ipAddresses,
            },
            { parent: this },
        );
        const cert = new tls.LocallySignedCert(
            `${prefix}-cert`,
            {
                certRequestPem: request.certRequestPem,
                caPrivateKeyPem: this.key.privateKeyPem,
                caCertPem: this.certPem,
                validityPeriodHours: this.validityHours,
                earlyRenewalHours: this.renewalHours,
                allowedUses: ["digital_signature", "key_encipherment", ...leaf.usages.map(u => USAGES[u])],
            },
            { parent: this },
        );
        return {
            uploads: [this.caUpload, { file: TLS_FILES.cert, content: cert.certPem }],
            keyEnv: pulumi.secret(key.privateKeyPem.apply(k => `TLS_KEY_B64=${Buffer.from(k).toString("base64")}`)),
            tmpfs: TLS_TMPFS,
        };
    }
}
