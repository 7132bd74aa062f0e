// The failover sentinel's decisions (images/sentinel/sentinel.py), run with the host's python3 against an
// in-memory etcd and engine: when it deletes the leader key, and every case in which it must not.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const PYTHON = process.env.PYTHON ?? (fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
const SCRIPT = path.join(__dirname, "..", "..", "..", "..", "images", "sentinel", "sentinel.py");

/** Fakes: etcd with revisions (and an optional writer that changes the key between read and delete), engine states, metrics. */
const FAKES = `
import importlib.util as u, json
s = u.spec_from_file_location("sentinel", ${JSON.stringify(SCRIPT)}); m = u.module_from_spec(s); s.loader.exec_module(m)
KEY = "/service/t/leader"
MEMBER = "/service/t/members/db1"
class Etcd:
    def __init__(self, value, fail=False, write_between=None):
        self.kv = {MEMBER: ('{"state": "running"}', 5)}
        if value is not None: self.kv[KEY] = (value, 7)
        self.fail = fail; self.write_between = write_between; self.rev = 7
    def get(self, key):
        if self.fail: raise OSError("no etcd member answered")
        v = self.kv.get(key)
        if self.write_between and key == KEY:  # another writer (a restarted Patroni) changes the key right after the read
            self.rev += 1; self.kv[key] = (self.write_between, self.rev)
        return (v[0], str(v[1])) if v else (None, None)
    def compare_and_delete(self, key, value, rev):
        v = self.kv.get(key)
        if v and v[0] == value and str(v[1]) == str(rev):
            del self.kv[key]; return True
        return False
class Engine:
    def __init__(self, states, events=(), starts=()):
        self.states = states; self.queued = list(events); self.starts = list(starts)  # (container, unix time)
    def containers(self, all, filters):
        name = filters["name"][2:-1]
        if name not in self.states: return []
        st = self.states[name]
        if isinstance(st, list):  # states the list shows one call after another (the last one stays)
            st = st.pop(0) if len(st) > 1 else st[0]
        return [{"State": st}]
    def events(self, since, filters, decode, until=None):
        if filters["event"] == ["start"]:  # the engine's record, since the death until now
            assert until is not None and filters["container"], filters
            return iter([{"status": "start"} for c, t in self.starts if c == filters["container"][0] and t >= float(since)])
        assert filters["label"] == ["patroni-ha.stack=t"] and filters["event"] == ["die"], filters
        return iter(self.queued)
class C:
    def __init__(self): self.n = 0; self.by = {}
    def inc(self): self.n += 1
    def set(self, v): self.n = v
    def labels(self, r): return self.by.setdefault(r, C())
class Metrics:
    def __init__(self):
        for k in ["deaths", "released", "skipped", "errors", "last_event", "last_release", "release_latency", "connected"]: setattr(self, k, C())
def sentinel(etcd, states, events=(), starts=()):
    mt = Metrics()
    return m.Sentinel(etcd, Engine(states, events, starts), "t", "/service/t/", {"t-db1": "db1", "t-db2": "db2"}, mt, clock=lambda: 1000.25), mt
NS = 10**9
def die(name, at=1000.0, exit="137"):
    return {"id": name, "timeNano": int(at * 1e9), "Actor": {"Attributes": {"name": name, "exitCode": exit}}}
`;

function py(code: string): unknown {
    const r = spawnSync(PYTHON, ["-c", `${FAKES}\n${code}`], { encoding: "utf8", env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

describe("failover sentinel: when it releases the leader key", () => {
    it("the leader's container died: the key is deleted at once (its member key is left to its lease), counted, with the latency", () => {
        const out = py(`e = Etcd("db1"); s, mt = sentinel(e, {"t-db1": "exited", "t-db2": "running"})
print(json.dumps([s.on_death("t-db1", 1000 * NS, "137"), KEY in e.kv, MEMBER in e.kv, mt.deaths.n, mt.released.n, mt.release_latency.n, mt.last_release.n]))`);
        assert.deepEqual(out, ["released", false, true, 1, 1, 0.25, 1000.25]);
    });

    it("leaves the key alone: a replica died, the key was released (graceful stop), the engine started the container again", () => {
        const out = py(`res = []
for value, who, starts in [("db1", "t-db2", []), (None, "t-db1", []), ("db1", "t-db1", [("t-db1", 1000.4)]), ("db1", "t-db1", [("t-db2", 1000.4)])]:
    e = Etcd(value); s, mt = sentinel(e, {"t-db1": "running", "t-db2": "running"}, starts=starts)
    res.append([s.on_death(who, 1000 * NS), e.kv.get(KEY, [None])[0], mt.released.n, MEMBER in e.kv])
print(json.dumps(res))`);
        assert.deepEqual(out, [
            ["not_leader", "db1", 0, true],
            ["no_leader_key", null, 0, true],
            // Restarted by the engine after the death (a crash): its own Patroni decides.
            ["container_alive", "db1", 0, true],
            // Another container's start says nothing of this one; the list still saying "running" right after
            // the death does not count either: the death event is the proof.
            ["released", null, 1, true],
        ]);
    });

    it("a restarted Patroni that writes the key between the read and the delete wins: nothing is deleted", () => {
        const out = py(`e = Etcd("db1", write_between="db1"); s, mt = sentinel(e, {"t-db1": "exited"})
print(json.dumps([s.on_death("t-db1", 1000 * NS), e.kv[KEY], mt.released.n, mt.skipped.by["key_changed"].n]))`);
        assert.deepEqual(out, ["key_changed", ["db1", 8], 0, 1]);
    });

    it("etcd unreachable: an error is counted and the lease path stays; another stack's or a non-member container is ignored", () => {
        const out = py(`e = Etcd("db1", fail=True); s, mt = sentinel(e, {"t-db1": "exited"})
r1 = s.on_death("t-db1", 1000 * NS)
e2 = Etcd("db1"); s2, mt2 = sentinel(e2, {"t-barman": "exited"})
print(json.dumps([r1, mt.errors.n, mt.released.n, s2.on_death("t-barman", 1000 * NS), mt2.deaths.n, KEY in e2.kv]))`);
        assert.deepEqual(out, ["error", 1, 0, "not_a_member", 0, true]);
    });

    it("on connecting: a death missed while disconnected is handled (also while the engine waits to restart it), a paused leader is not; replayed events count once", () => {
        const out = py(`e = Etcd("db1"); s, mt = sentinel(e, {"t-db1": "exited"}); s.follow(0)
missed = [KEY in e.kv, mt.released.n]
e = Etcd("db1"); s, mt = sentinel(e, {"t-db1": "paused"}); s.follow(0)
paused = [KEY in e.kv, mt.released.n, mt.deaths.n]
e = Etcd("db2"); s, mt = sentinel(e, {"t-db1": "running", "t-db2": "exited"}, [die("t-db1"), die("t-db1"), die("t-db2", 1001.0)])
since = s.follow(0)
third = [KEY in e.kv, mt.deaths.n, mt.released.n, since, mt.connected.n]
e = Etcd("db1"); s, mt = sentinel(e, {"t-db1": "restarting"}); s.follow(0)
print(json.dumps([missed, paused, third, [KEY in e.kv, mt.released.n]]))`);
        // The third: the key named db2 whose container is exited, so the connect-time check released it;
        // the two db1 events (the same event replayed) count once, the db2 event finds the key gone.
        assert.deepEqual(out, [
            [false, 1],
            [true, 0, 0],
            [false, 3, 1, 1001, 0],
            // A crash-looping leader the engine waits to start again runs nothing either.
            [false, 1],
        ]);
    });
});
