import * as pulumi from "@pulumi/pulumi";
import { PatroniCluster } from "./components/cluster";
import { hostPort, httpsUrl, httpUrl, postgresUri } from "./lib/net";
import { caCertificateFile } from "./lib/pg";

export { hostPort, postgresUri };

/** The stack outputs (public interface: names are contracts). Anything holding a password is secret. */
export function clusterOutputs(cluster: PatroniCluster) {
    const spec = cluster.spec;
    const host = spec.publicHost;
    const admin = spec.adminHost;
    const writeEndpoint = hostPort(host, spec.ports.write);
    const readEndpoint = hostPort(host, spec.ports.read);
    // Verified TLS: libpq (psql, most drivers) reads the CA from this file, relative to where the client runs.
    const caFile = caCertificateFile(spec.stack);
    // tls.enabled false (loopback only): no sslmode, libpq's default (prefer) needs no CA file.
    const tlsParams = spec.tls.enabled ? { sslmode: "verify-full", sslrootcert: caFile } : undefined;
    const uri = (user: string, pw: pulumi.Output<string>, endpoint: string, db: string) =>
        pulumi.secret(pw.apply(p => postgresUri(user, p, endpoint, db, tlsParams)));
    return {
        writeEndpoint,
        readEndpoint,
        statsUrl: httpsUrl(admin, spec.ports.stats, "/"),
        statsUser: "admin",
        statsPassword: pulumi.secret(cluster.secrets.stats),
        patroniApiUrls: spec.members.map(m => m.apiUrl),
        /** Every member by name: REST API URL and PostgreSQL endpoint from the host (operator commands use it). */
        patroniMembers: spec.members.map(m => ({ name: m.name, apiUrl: m.apiUrl, postgresEndpoint: m.postgresEndpoint })),
        patroniApiUser: "patroni",
        patroniApiPassword: pulumi.secret(cluster.secrets.api),
        /** etcd's client URLs (https, client certificate required), only with ports.publishEtcd. */
        etcdEndpoints: spec.ports.publishEtcd ? cluster.etcd.endpoints : undefined,
        /** etcd members' containers: `docker exec -i <name> etcd-v3 kv/range` or `etcdctl` reach etcd over TLS. */
        etcdContainers: cluster.etcd.containerNames,
        /** The stack's CA certificate (PEM, public): clients verify the stack's certificates with it. */
        caCertificate: cluster.ca.certPem,
        /** The file the connection strings' sslrootcert names: save caCertificate there, where the client runs. */
        caCertificateFile: caFile,
        writeConnectionString: uri(spec.app.user, cluster.secrets.app, writeEndpoint, spec.app.database),
        readConnectionString: uri(spec.app.user, cluster.secrets.app, readEndpoint, spec.app.database),
        /** Absent with superuserAccess: false (pg_hba rejects the superuser over TCP then). */
        superuserConnectionString: spec.superuserAccess ? uri("postgres", cluster.secrets.superuser, writeEndpoint, "postgres") : undefined,
        superuserPassword: pulumi.secret(cluster.secrets.superuser),
        barmanContainer: cluster.barman.containerName,
        pitrEndpoint: hostPort(admin, spec.ports.pitr),
        metricsUrls: {
            patroni: spec.members.map(m => `${m.apiUrl}/metrics`),
            haproxy: httpsUrl(admin, spec.ports.stats, "/metrics"),
            postgres: httpUrl(admin, spec.ports.metrics, "/metrics"),
            barman: httpUrl(admin, spec.ports.barmanMetrics, "/metrics"),
            ...(spec.sentinel ? { sentinel: httpUrl(admin, spec.ports.sentinelMetrics, "/metrics") } : {}),
        },
        prometheusUrl: spec.prometheus ? httpUrl(admin, spec.ports.prometheus, "/") : undefined,
        alertmanagerUrl: cluster.alertmanager ? httpUrl(admin, spec.ports.alertmanager, "/") : undefined,
    };
}
