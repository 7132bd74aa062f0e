// Fixed in-container layout shared by renderers, components and images. Host ports come from config;
// these never change, so a host port change never rewrites a config file.
export const PG_PORT = 5431;
export const API_PORT = 8001;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** etcd's plain-HTTP listener for /metrics and /health only (no key access): Prometheus and the healthcheck. */
export const ETCD_METRICS_PORT = 2381;
export const HAPROXY_WRITE_PORT = 5431;
export const HAPROXY_READ_PORT = 5432;
export const HAPROXY_STATS_PORT = 8404;
/** Unpublished port for the container healthcheck. */
export const HAPROXY_HEALTH_PORT = 8405;

export const PG_VERSION = 15;
/** Volume mount; the data directory is a subfolder so initdb can chmod it. */
export const PG_HOME = "/var/lib/postgresql";
export const PG_DATA = `${PG_HOME}/${PG_VERSION}/data`;
export const PG_BIN = `/usr/lib/postgresql/${PG_VERSION}/bin`;
export const PATRONI_CONFIG = "/etc/patroni/patroni.yml";
/**
 * haproxy.cfg is not an upload: the stack writes it into the running container (haproxy-apply-config, through
 * a ContainerFile), where haproxy-start waits for it, and a change reloads HAProxy without a new container.
 * HAPROXY_SERVER_STATE carries the servers' UP/DOWN state across a reload; HAPROXY_PID names the master.
 */
export const HAPROXY_CONFIG = "/var/lib/haproxy-ha/haproxy.cfg";
export const HAPROXY_SERVER_STATE = "/var/lib/haproxy-ha/server-state";
export const HAPROXY_PID = "/run/haproxy/haproxy.pid";
export const HAPROXY_ADMIN_SOCKET = "/run/haproxy/admin.sock";
export const ETCD_DATA = "/var/lib/etcd";
export const BARMAN_HOME = "/var/lib/barman";
export const BARMAN_BACKUPS = "/data/pg-backup";
export const BARMAN_CONFIG = "/etc/barman.conf";
export const BARMAN_SERVER_DIR = "/etc/barman.d";

/** Patroni's DCS namespace (its default). */
export const DCS_NAMESPACE = "/service/";
/** A cluster's key in the DCS, e.g. dcsKey("prod", "leader") = /service/prod/leader (Patroni's layout). */
export const dcsKey = (scope: string, key: string) => `${DCS_NAMESPACE}${scope}/${key}`;

/** PostgreSQL roles the stack creates. */
export const ROLES = {
    superuser: "postgres",
    replication: "replicator",
    rewind: "rewind_user",
    barman: "barman",
    streamingBarman: "streaming_barman",
    monitor: "monitor",
} as const;

/** The PostgreSQL exporter's port inside its container. */
export const EXPORTER_PORT = 9187;
/** Barman's metrics (served by barman-ha in its container). */
export const BARMAN_METRICS_PORT = 9780;
export const PROMETHEUS_PORT = 9090;
/** The failover sentinel's metrics. */
export const SENTINEL_METRICS_PORT = 9781;
/** The engine's API socket on the Docker host, mounted into the sentinel (read by its filter only). */
export const DOCKER_SOCKET = "/var/run/docker.sock";
/** Where the sentinel's filter puts the socket the sentinel itself may use. */
export const SENTINEL_RUN = "/run/sentinel";

/** Name of the permanent physical slot Barman streams from. */
export const BARMAN_SLOT = "barman";

/**
 * Shared WAL hand-off volume, mounted in every Patroni node and in Barman. archive_command drops a
 * segment into incoming/ atomically (via tmp/ on the same filesystem; the first archive_command or Barman's
 * start creates both, the images ship an empty mount point); Barman's archiver takes it from
 * there. It follows any leader and keeps archiving while the Barman container is down.
 */
export const WAL_SHARE = "/var/lib/barman-wal";
/** Group owning the WAL share in both images (postgres and barman are members): one gid, so both can use it. */
export const WALSHARE_GID = 2990;
/**
 * The Barman image's `barman` user and group, fixed (Debian would pick the next free system ids) so a
 * `barman.backupDir` on the host can be owned by them. 101/102 are what Debian assigned before they were
 * fixed, so volumes of earlier deployments keep their owner.
 */
export const BARMAN_UID = 101;
export const BARMAN_GID = 102;
export const WAL_INCOMING = `${WAL_SHARE}/incoming`;

/** barman.mode "rsync": sshd port in the Patroni and Barman containers, and HAProxy's SSH route to the leader. */
export const SSH_PORT = 2222;
export const HAPROXY_SSH_PORT = 2222;
/** Uploaded SSH files (no secret in them) and the run-time folder the private keys are written to. */
export const SSH_ETC = "/etc/ssh-ha";
export const SSH_RUN = "/run/ssh-ha";

/**
 * TLS in every container that has a certificate: the stack's CA and the container's certificate are uploaded
 * to TLS_ETC (public); the private key arrives as TLS_KEY_B64 and `tls-key` (images/common/tls-key.sh)
 * writes it, 0600, to TLS_RUN, a tmpfs, before the service starts: it never reaches an image, an upload or a disk.
 */
/**
 * A node's secrets (role and REST API passwords, its TLS and SSH keys) as NAME=value lines: uploaded into
 * SECRET_DIR, a directory only the container's user may enter, and exported by `secret-env`
 * (images/common/secret-env.sh) at start and for `patronictl`. Not environment variables of the container,
 * so `docker inspect` shows none of them.
 */
export const SECRET_DIR = "/etc/patroni-ha/secret";
export const SECRET_ENV = `${SECRET_DIR}/env`;
export const TLS_ETC = "/etc/patroni-ha/tls";
export const TLS_RUN = "/run/patroni-ha-tls";
export const TLS_FILES = { ca: `${TLS_ETC}/ca.pem`, cert: `${TLS_ETC}/cert.pem`, key: `${TLS_RUN}/key.pem` };
/** HAProxy's certificate and key in one file (its `crt`), written by haproxy-start (images/haproxy/start.sh). */
export const HAPROXY_STATS_PEM = `${TLS_RUN}/stats.pem`;
/**
 * libpq settings of every connection the stack's parts make to PostgreSQL over TCP (replication, pg_rewind,
 * Barman, the exporter): TLS, the server's certificate and name verified against the stack's CA.
 */
export const PG_VERIFIED_TLS = { sslmode: "verify-full", sslrootcert: TLS_FILES.ca };
/**
 * The tmpfs TLS_RUN is, in every container with a key. Docker gives it the mode of the image's folder,
 * 1777 like /tmp (not its owner, so not the service user's 0700); the key in it is the user's, 0600.
 */
export const TLS_TMPFS = { [TLS_RUN]: "rw,nosuid,nodev,noexec,size=1m" };
/**
 * Days before their end at which the stack's certificates are due for renewal: the tls provider's
 * earlyRenewalHours (half the validity when that is shorter) and where `npm run status` starts to say so.
 */
export const CERTIFICATE_RENEW_DAYS = 30;

/** Prometheus's configuration, data and the stack's alert rules inside its image. */
export const PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml";
export const PROMETHEUS_DATA = "/var/lib/prometheus";
/** The Patroni members to scrape (file_sd), on Prometheus's volume: written by the stack into the running container. */
export const PROMETHEUS_PATRONI_TARGETS = `${PROMETHEUS_DATA}/targets/patroni.json`;
export const PROMETHEUS_RULES = "/etc/prometheus/rules.yml";
/** The optional Alertmanager (Debian's prometheus-alertmanager). */
export const ALERTMANAGER_PORT = 9093;
export const ALERTMANAGER_CONFIG = "/etc/prometheus/alertmanager.yml";
export const ALERTMANAGER_DATA = "/var/lib/prometheus/alertmanager";

/**
 * The volume-metrics container (with Prometheus): Debian's node exporter, filesystem numbers only, of the
 * filesystem holding the stack's Docker volumes, seen through a probe volume of its own mounted read-only at
 * VOLUMES_PROBE (the `mountpoint` label of its metrics). Its port is not published: only Prometheus reads it,
 * over the stack network.
 */
export const VOLUME_METRICS_PORT = 9100;
export const VOLUMES_DIR = "/volumes";
export const VOLUMES_PROBE = `${VOLUMES_DIR}/docker`;

/**
 * The layout each image is built with (Docker build args, which its Dockerfile turns into ENV for the
 * scripts inside): the images read paths, ports and ids from here instead of repeating them.
 */
export function layoutBuildArgs(role: string): Record<string, string> {
    const shared = {
        WAL_SHARE,
        WALSHARE_GID: String(WALSHARE_GID),
        SSH_ETC,
        SSH_RUN,
        SSH_PORT: String(SSH_PORT),
        PG_VERSION: String(PG_VERSION),
    };
    const byRole: Record<string, Record<string, string>> = {
        patroni: { ...shared, PG_PORT: String(PG_PORT), API_PORT: String(API_PORT), PG_HOME, PATRONI_CONFIG, TLS_ETC, TLS_RUN, SECRET_ENV },
        barman: {
            ...shared,
            BARMAN_HOME,
            BARMAN_BACKUPS,
            BARMAN_SERVER_DIR,
            BARMAN_METRICS_PORT: String(BARMAN_METRICS_PORT),
            BARMAN_UID: String(BARMAN_UID),
            BARMAN_GID: String(BARMAN_GID),
            TLS_ETC,
            SECRET_ENV,
        },
        etcd: {
            ETCD_DATA,
            ETCD_CLIENT_PORT: String(ETCD_CLIENT_PORT),
            ETCD_PEER_PORT: String(ETCD_PEER_PORT),
            ETCD_METRICS_PORT: String(ETCD_METRICS_PORT),
            TLS_ETC,
            TLS_RUN,
            SECRET_ENV,
        },
        haproxy: {
            HAPROXY_CONFIG,
            HAPROXY_SERVER_STATE,
            HAPROXY_PID,
            HAPROXY_ADMIN_SOCKET,
            HAPROXY_WRITE_PORT: String(HAPROXY_WRITE_PORT),
            HAPROXY_READ_PORT: String(HAPROXY_READ_PORT),
            HAPROXY_STATS_PORT: String(HAPROXY_STATS_PORT),
            TLS_ETC,
            TLS_RUN,
            SECRET_ENV,
        },
        exporter: { EXPORTER_PORT: String(EXPORTER_PORT), TLS_ETC, SECRET_ENV },
        prometheus: { PROMETHEUS_PORT: String(PROMETHEUS_PORT), PROMETHEUS_CONFIG, PROMETHEUS_DATA, TLS_ETC },
        sentinel: { SENTINEL_METRICS_PORT: String(SENTINEL_METRICS_PORT), DOCKER_SOCKET, SENTINEL_RUN, TLS_ETC, TLS_RUN, SECRET_ENV },
        alertmanager: { ALERTMANAGER_PORT: String(ALERTMANAGER_PORT), ALERTMANAGER_CONFIG, ALERTMANAGER_DATA },
        "volume-metrics": { VOLUME_METRICS_PORT: String(VOLUME_METRICS_PORT), VOLUMES_DIR },
    };
    return byRole[role] ?? {};
}
