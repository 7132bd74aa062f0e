#!/usr/bin/env python3
"""patroni-ha failover sentinel.

After a hard death of the leader, Patroni's replicas wait for its lease in etcd to expire (ttl minus
0..loop_wait seconds). On Docker the engine reports a container's death at once, and a dead container
cannot acknowledge a write: every process in it is gone. So when a Patroni container of this stack dies
and the leader key still names that member, the sentinel deletes the key with a compare-and-delete (value
and mod_revision as it read them), and the replicas, which watch the key, race for it through Patroni's
normal path at once.

It never acts on a member that is not the leader, on a key released already (a graceful stop), on a
container the engine started again since its death (its own Patroni decides), or on anything that is not
a death (a pause or a network fault sends no "die" event). The key's revision guards the rest: a
restarted Patroni that writes the key first changes it, and the delete does not happen.

Configuration (environment): STACK (label value), DCS_CLUSTER_PREFIX (Patroni's <namespace><scope>/),
ETCD_ENDPOINTS (comma separated http://host:port), MEMBERS (container=member, comma separated),
DOCKER_API (the filter's socket), SENTINEL_METRICS_PORT.
"""

import base64
import json
import logging
import os
import sys
import time
import urllib.request

log = logging.getLogger("sentinel")


def b64(text):
    return base64.b64encode(text.encode()).decode()


class Etcd:
    """etcd's v3 JSON gateway (the API Patroni itself uses), over every endpoint in turn."""

    def __init__(self, endpoints, timeout=2.0, context=None):
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.context = context  # TLS: the stack's CA and the sentinel's client certificate

    def _post(self, path, body):
        errors = []
        for i, endpoint in enumerate(self.endpoints):
            req = urllib.request.Request(
                endpoint + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as r:
                    answer = json.loads(r.read() or b"{}")
                # The member that answered first next time.
                self.endpoints = self.endpoints[i:] + self.endpoints[:i]
                return answer
            except (OSError, ValueError) as e:
                errors.append(f"{endpoint}: {e}")
        raise OSError("no etcd member answered: " + "; ".join(errors))

    def get(self, key):
        """(value, mod_revision) of a key, (None, None) if it does not exist."""
        kvs = self._post("/v3/kv/range", {"key": b64(key)}).get("kvs") or []
        if not kvs:
            return None, None
        return base64.b64decode(kvs[0].get("value", "")).decode(), str(kvs[0]["mod_revision"])

    def compare_and_delete(self, key, value, mod_revision):
        """Delete the key only if it still holds `value` at `mod_revision`; True if it was deleted."""
        k = b64(key)
        body = {
            "compare": [
                {"key": k, "target": "VALUE", "result": "EQUAL", "value": b64(value)},
                {"key": k, "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)},
            ],
            "success": [{"request_delete_range": {"key": k}}],
        }
        return bool(self._post("/v3/kv/txn", body).get("succeeded", False))


# Docker's container states in which nothing of the container runs ("restarting": the engine waits to start
# it again after a crash; the next incarnation's Patroni has written nothing yet).
DEAD_STATES = ("exited", "dead", "created", "removing", "restarting")


def skip_reason(member, key_value, container_alive):
    """Why not to release the key after `member`'s container died (None: release it)."""
    if key_value is None:
        return "no_leader_key"  # released on a graceful stop, or expired already
    if key_value != member:
        return "not_leader"
    if container_alive:
        return "container_alive"  # restarted by the engine (its own Patroni decides), or paused
    return None


class Sentinel:
    def __init__(self, etcd, docker_api, stack, cluster_prefix, members, metrics, clock=time.time):
        self.etcd = etcd
        self.docker = docker_api
        self.stack = stack
        # Patroni's layout under <namespace><scope>/.
        self.leader_key = cluster_prefix + "leader"
        self.members = members  # container name -> member name
        self.m = metrics
        self.clock = clock
        self.seen = []

    def alive(self, container):
        """
        Whether the container may still run anything: every state but exited, dead, created (never started)
        and removing. Paused counts as alive (it resumes with its processes). The list endpoint, not
        inspect: it shows no container's environment.
        """
        found = self.docker.containers(all=True, filters={"name": f"^/{container}$"})
        return bool(found) and found[0].get("State") not in DEAD_STATES

    def started_since(self, container, died_ns):
        """
        Whether the engine started the container again after the death at `died_ns` (its restart policy,
        after a crash), as of now: the engine's own record of "start" events. Not the container list, which
        still says "running" for a moment after the death.
        """
        since = f"{died_ns // 10**9}.{died_ns % 10**9:09d}"
        filters = {"type": ["container"], "event": ["start"], "container": [container]}
        # "until" now: the engine answers from its record at once (a later "until" would hold the call open).
        return any(True for _ in self.docker.events(since=since, until=f"{time.time():.9f}", filters=filters, decode=True))

    def on_death(self, container, died_ns, exit_code="", started_again=None):
        """
        Handle one death of a member's container (at `died_ns`, the engine's time in nanoseconds). Returns
        what was done (for logs and tests). `started_again`: how to tell whether it runs again (default:
        a "start" event since the death).
        """
        started_again = started_again or (lambda: self.started_since(container, died_ns))
        died_at = died_ns / 1e9
        member = self.members.get(container)
        if member is None:
            return "not_a_member"
        self.m.deaths.inc()
        self.m.last_event.set(died_at)
        value = None
        try:
            # The key first, then whether the container was started again since its death: if it was not, the
            # revision read was written by a dead incarnation (a later one writes a new revision, and the
            # compare-and-delete then fails).
            value, revision = self.etcd.get(self.leader_key)
            reason = skip_reason(member, value, value == member and started_again())
            if reason is None and not self.etcd.compare_and_delete(self.leader_key, member, revision):
                reason = "key_changed"
        except Exception as e:  # noqa: BLE001 - any failure keeps the lease path; say so and go on
            self.m.errors.inc()
            log.error("member %s died (container %s, exit %s) but the check failed, the lease path stays: %s", member, container, exit_code, e)
            return "error"
        if reason:
            self.m.skipped.labels(reason).inc()
            log.info("member %s died (container %s, exit %s): leader key left alone (%s, key holds %r)", member, container, exit_code, reason, value)
            return reason
        now = self.clock()
        self.m.released.inc()
        self.m.last_release.set(now)
        self.m.release_latency.set(max(0.0, now - died_at))
        log.warning(
            "released the leader key of member %s (revision %s) %.3f s after its container %s died (exit %s)",
            member, revision, now - died_at, container, exit_code,
        )
        return "released"

    def reconcile(self):
        """On (re)connecting: a death missed while the stream was down, if the key names a member not running."""
        try:
            value, _ = self.etcd.get(self.leader_key)
            container = next((c for c, m in self.members.items() if m == value), None)
            if container is not None and not self.alive(container):
                self.on_death(container, int(self.clock() * 1e9), "unknown (found not running)", lambda: self.alive(container))
        except Exception as e:  # noqa: BLE001 - the event stream goes on; the lease path stays
            self.m.errors.inc()
            log.error("could not check the leader's container on connecting: %s", e)

    def follow(self, since):
        """
        Open the stream of this stack's container deaths (replayed from `since`, so a reconnect misses
        none), check for deaths missed before it, then handle each as it comes until the stream ends.
        Returns the time of the last event seen.
        """
        filters = {"type": ["container"], "event": ["die"], "label": [f"patroni-ha.stack={self.stack}"]}
        stream = self.docker.events(since=since, filters=filters, decode=True)
        self.m.connected.set(1)
        try:
            self.reconcile()
            for event in stream:
                stamp = (event.get("id"), event.get("timeNano"))
                if stamp in self.seen:
                    continue  # replayed after a reconnect
                self.seen = (self.seen + [stamp])[-100:]
                attributes = (event.get("Actor") or {}).get("Attributes") or {}
                died_ns = int(event.get("timeNano") or float(event.get("time", self.clock())) * 1e9)
                since = died_ns // 10**9
                self.on_death(attributes.get("name", ""), died_ns, attributes.get("exitCode", ""))
        finally:
            self.m.connected.set(0)
        return since


def tls_context(env):
    """
    The client side of etcd's TLS: trust the stack's CA only and present the sentinel's certificate. The key
    arrives as TLS_KEY_B64; it is written to a 0600 file on the TLS_RUN tmpfs just long enough to load it,
    and taken out of the environment.
    """
    import ssl
    import tempfile

    context = ssl.create_default_context(cafile=env["TLS_CA_FILE"])
    fd, path = tempfile.mkstemp(dir=env.get("TLS_RUN") or None)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(env.pop("TLS_KEY_B64")))
        context.load_cert_chain(env["TLS_CERT_FILE"], path)
    finally:
        os.unlink(path)
    return context


class Metrics:
    def __init__(self):
        from prometheus_client import Counter, Gauge

        self.deaths = Counter("patroni_sentinel_member_deaths", "Deaths of this stack's Patroni containers seen")
        self.released = Counter("patroni_sentinel_leader_keys_released", "Leader keys deleted after the leader's container died")
        self.skipped = Counter("patroni_sentinel_deaths_skipped", "Deaths after which the key was left alone, by reason", ["reason"])
        self.errors = Counter("patroni_sentinel_errors", "Deaths the sentinel could not check (the lease path stays)")
        self.last_event = Gauge("patroni_sentinel_last_death_timestamp_seconds", "When the last member death happened")
        self.last_release = Gauge("patroni_sentinel_last_release_timestamp_seconds", "When the sentinel last released a leader key")
        self.release_latency = Gauge("patroni_sentinel_last_release_seconds", "From the container's death to the key's deletion, last time")
        self.connected = Gauge("patroni_sentinel_docker_connected", "1 while the engine's event stream is open")


def main():
    import docker
    from prometheus_client import start_http_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s", stream=sys.stderr)
    env = os.environ
    members = dict(pair.split("=", 1) for pair in env["MEMBERS"].split(",") if pair)
    metrics = Metrics()
    start_http_server(int(env["SENTINEL_METRICS_PORT"]))
    # A fixed API version (Docker 20.10's; later engines serve it too): the client then never asks
    # /version, which the filter does not allow.
    client = docker.APIClient(base_url="unix://" + env["DOCKER_API"], version="1.41", timeout=10)
    etcd = Etcd(env["ETCD_ENDPOINTS"].split(","), context=tls_context(env))
    sentinel = Sentinel(etcd, client, env["STACK"], env["DCS_CLUSTER_PREFIX"], members, metrics)
    log.info("following the deaths of %s; leader key %s", ", ".join(f"{c} ({m})" for c, m in members.items()), sentinel.leader_key)
    since = int(time.time())
    while True:
        try:
            since = sentinel.follow(since)
            log.warning("the engine's event stream ended; reconnecting")
        except Exception as e:  # noqa: BLE001 - reconnect whatever broke
            log.error("event stream failed, reconnecting in 1 s: %s", e)
        time.sleep(1)


if __name__ == "__main__":
    main()
