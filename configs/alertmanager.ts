import { dumpYaml } from "./yaml";

export interface AlertmanagerConfigInput {
    /** Where every alert goes (config alertmanager.webhookUrl). */
    webhookUrl: string;
}

/**
 * alertmanager.yml: one route, every alert of the stack's rules to the webhook, resolved ones too.
 * Grouped per alert name; the first notification 10 s after an alert fires (the rules' `for` already
 * waited), repeats every 4 h while it lasts.
 */
export function renderAlertmanagerYml(input: AlertmanagerConfigInput): string {
    return dumpYaml({
        route: {
            receiver: "webhook",
            group_by: ["alertname"],
            group_wait: "10s",
            group_interval: "1m",
            repeat_interval: "4h",
        },
        receivers: [{ name: "webhook", webhook_configs: [{ url: input.webhookUrl, send_resolved: true }] }],
    });
}
