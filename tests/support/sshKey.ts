// What tls.PrivateKey (algorithm ED25519) yields, made with Node's crypto for the mock hook: the
// OpenSSH private key format (unencrypted, openssh-key-v1) and the matching public key line.
import { generateKeyPairSync, randomBytes } from "crypto";

function sshString(data: Buffer | string): Buffer {
    const body = typeof data === "string" ? Buffer.from(data) : data;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    return Buffer.concat([len, body]);
}

function uint32(n: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
}

/** A fresh ED25519 key pair as { privateKeyOpenssh, publicKeyOpenssh }. */
export function ed25519OpenSsh(comment = ""): { privateKeyOpenssh: string; publicKeyOpenssh: string } {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const jwk = privateKey.export({ format: "jwk" });
    const pub = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
    const seed = Buffer.from(jwk.d!, "base64url");
    const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
    const check = randomBytes(4).readUInt32BE();
    let secret = Buffer.concat([
        uint32(check),
        uint32(check),
        sshString("ssh-ed25519"),
        sshString(pub),
        sshString(Buffer.concat([seed, pub])),
        sshString(comment),
    ]);
    const pad = (8 - (secret.length % 8)) % 8;
    secret = Buffer.concat([secret, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
    const whole = Buffer.concat([
        Buffer.from("openssh-key-v1\0"),
        sshString("none"),
        sshString("none"),
        sshString(""),
        uint32(1),
        sshString(publicBlob),
        sshString(secret),
    ]);
    const b64 = whole
        .toString("base64")
        .match(/.{1,70}/g)!
        .join("\n");
    return {
        privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`,
        publicKeyOpenssh: `ssh-ed25519 ${publicBlob.toString("base64")}\n`,
    };
}
