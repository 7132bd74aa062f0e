// A fake etcd v3 JSON gateway and fake Patroni members on loopback, for unit tests of the clients.
import * as http from "http";
import { AddressInfo } from "net";

export interface FakeMember {
    name: string;
    /** /patroni's role: "primary" or "replica". */
    role: string;
    pending: boolean;
    state: string;
    streaming: boolean;
    /** /cluster's role for a replica when it is one: "sync_standby". */
    clusterRole?: string;
}

/** One HTTP server playing etcd's v3 JSON gateway and every Patroni member (by path prefix /dbN). */
export class FakeCluster {
    kv = new Map<string, string>();
    config: Record<string, unknown> = {};
    members: FakeMember[] = [];
    log: string[] = [];
    auth = "";
    /** Whether POST /switchover moves the leadership to the candidate (as Patroni does) or only logs it. */
    switchoverMoves = false;
    private server = http.createServer((req, res) => this.handle(req, res));
    url = "";

    async start() {
        await new Promise<void>(r => this.server.listen(0, "127.0.0.1", () => r()));
        this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }
    stop() {
        this.server.close();
    }

    private handle(req: http.IncomingMessage, res: http.ServerResponse) {
        let body = "";
        req.on("data", d => {
            body += d;
        });
        req.on("end", () => {
            const reply = (status: number, json: unknown) => {
                res.writeHead(status, { "content-type": "application/json" });
                res.end(JSON.stringify(json));
            };
            const b64 = (s: string) => Buffer.from(s, "base64").toString();
            const url = req.url ?? "";
            if (url === "/v3/kv/range") {
                const key = b64(JSON.parse(body).key);
                return reply(200, this.kv.has(key) ? { kvs: [{ key, value: Buffer.from(this.kv.get(key)!).toString("base64") }] } : {});
            }
            if (url === "/v3/kv/put") {
                const { key, value } = JSON.parse(body);
                this.kv.set(b64(key), b64(value));
                this.log.push(`put ${b64(key)}`);
                return reply(200, {});
            }
            const m = /^\/(db\d)\/(\w+)$/.exec(url);
            const member = this.members.find(x => x.name === m?.[1]);
            if (!m || !member) {
                return reply(404, {});
            }
            const authed = req.headers.authorization === `Basic ${Buffer.from(this.auth).toString("base64")}`;
            if (m[2] === "config" && req.method === "GET") {
                return reply(200, this.config);
            }
            if (m[2] === "config" && req.method === "PATCH") {
                if (!authed) {
                    return reply(401, { text: "not authenticated" });
                }
                const patch = JSON.parse(body);
                this.log.push(`patch ${JSON.stringify(patch)}`);
                const merge = (t: Record<string, unknown>, p: Record<string, unknown>) => {
                    for (const [k, v] of Object.entries(p)) {
                        if (v === null) {
                            delete t[k];
                        } else if (typeof v === "object" && !Array.isArray(v) && typeof t[k] === "object") {
                            merge(t[k] as Record<string, unknown>, v as Record<string, unknown>);
                        } else {
                            t[k] = v;
                        }
                    }
                };
                merge(this.config, patch);
                return reply(200, this.config);
            }
            if (m[2] === "patroni") {
                const leader = this.members.find(x => x.role === "primary");
                return reply(200, {
                    state: member.state,
                    role: member.role,
                    pending_restart: member.pending || undefined,
                    ...(member.role === "primary"
                        ? {
                              replication: this.members
                                  .filter(x => x !== leader && x.streaming)
                                  .map(x => ({ application_name: x.name, state: "streaming" })),
                          }
                        : {}),
                });
            }
            if (m[2] === "cluster") {
                return reply(200, {
                    members: this.members.map(x => ({
                        name: x.name,
                        role: x.role === "primary" ? "leader" : (x.clusterRole ?? "replica"),
                        state: x.role === "primary" ? x.state : x.streaming ? "streaming" : x.state,
                        host: "127.0.0.1",
                        lag: 0,
                    })),
                });
            }
            if (m[2] === "switchover" && req.method === "POST") {
                if (!authed) {
                    return reply(401, {});
                }
                this.log.push(`switchover ${body} via ${member.name}`);
                const request = JSON.parse(body);
                // Any member takes the request (Patroni writes the failover key); the named leader hands over.
                const candidate = this.members.find(x => x.name === request.candidate);
                const leader = this.members.find(x => x.name === request.leader && x.role === "primary");
                if (this.switchoverMoves && candidate && leader) {
                    leader.role = "replica";
                    leader.streaming = true;
                    candidate.role = "primary";
                    candidate.clusterRole = undefined;
                }
                return reply(200, { text: "Successfully switched over" });
            }
            if (m[2] === "restart" && req.method === "POST") {
                if (!authed) {
                    return reply(401, {});
                }
                this.log.push(`restart ${member.name}`);
                member.pending = false;
                return reply(200, { text: "restarted successfully" });
            }
            return reply(404, {});
        });
    }
}
