import * as pulumi from "@pulumi/pulumi";
import { PatroniCluster } from "./components/cluster";

/** "host:port", with brackets for an IPv6 host. */
export function hostPort(host: string, port: number): string {
    return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** postgresql:// URI with the password URL-encoded. */
export function postgresUri(user: string, password: string, endpoint: string, database: string): string {
    return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${endpoint}/${encodeURIComponent(database)}`;
}

/** The stack outputs (public interface: names are contracts). Anything holding a password is secret. */
export function clusterOutputs(cluster: PatroniCluster) {
    const spec = cluster.spec;
    const host = spec.publicHost;
    const writeEndpoint = hostPort(host, spec.ports.write);
    const readEndpoint = hostPort(host, spec.ports.read);
    const uri = (user: string, pw: pulumi.Output<string>, endpoint: string, db: string) =>
        pulumi.secret(pw.apply(p => postgresUri(user, p, endpoint, db)));
    return {
        writeEndpoint,
        readEndpoint,
        statsUrl: `http://${hostPort(host, spec.ports.stats)}/`,
        statsUser: "admin",
        statsPassword: pulumi.secret(cluster.secrets.stats),
        patroniApiUrls: spec.addresses.db.map((_, i) => `http://${hostPort(host, spec.ports.apiBase + i + 1)}`),
        patroniApiUser: "patroni",
        patroniApiPassword: pulumi.secret(cluster.secrets.api),
        etcdEndpoints: cluster.etcd.endpoints,
        writeConnectionString: uri(spec.app.user, cluster.secrets.app, writeEndpoint, spec.app.database),
        readConnectionString: uri(spec.app.user, cluster.secrets.app, readEndpoint, spec.app.database),
        superuserConnectionString: uri("postgres", cluster.secrets.superuser, writeEndpoint, "postgres"),
        superuserPassword: pulumi.secret(cluster.secrets.superuser),
        barmanContainer: cluster.barman.containerName,
        pitrEndpoint: hostPort(host, spec.ports.pitr),
        metricsUrls: {
            patroni: spec.addresses.db.map((_, i) => `http://${hostPort(host, spec.ports.apiBase + i + 1)}/metrics`),
            haproxy: `http://${hostPort(host, spec.ports.stats)}/metrics`,
            postgres: `http://${hostPort(host, spec.ports.metrics)}/metrics`,
            barman: `http://${hostPort(host, spec.ports.barmanMetrics)}/metrics`,
        },
        prometheusUrl: spec.prometheus ? `http://${hostPort(host, spec.ports.prometheus)}/` : undefined,
    };
}
