// A webhook receiver on the host for the e2e suites: Alertmanager, in a container on the stack network,
// posts to it through the network's gateway address (the host's side of the bridge).
import * as http from "http";
import { AddressInfo } from "net";

/** One alert of an Alertmanager webhook payload (version 4). */
export interface HookAlert {
    status: "firing" | "resolved";
    labels: Record<string, string>;
}

export interface WebhookReceiver {
    /** Every alert received so far, in order. */
    alerts: HookAlert[];
    /** The URL Alertmanager should post to, given the address containers reach the host at. */
    url(hostAddress: string): string;
    close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
    const alerts: HookAlert[] = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", chunk => (body += chunk));
        req.on("end", () => {
            try {
                alerts.push(...((JSON.parse(body) as { alerts?: HookAlert[] }).alerts ?? []));
            } catch {
                /* not a payload: ignored */
            }
            res.writeHead(200).end();
        });
    });
    await new Promise<void>(resolve => server.listen(0, "0.0.0.0", resolve));
    const port = (server.address() as AddressInfo).port;
    return {
        alerts,
        url: host => `http://${host}:${port}/hook`,
        close: () => new Promise(resolve => server.close(() => resolve())),
    };
}
