#!/usr/bin/python3
"""Helpers for the Barman container of patroni-ha.

  barman-ha due "<cron>" <stamp-file>   exit 0 and print the slot when a scheduled backup is due (records it);
                                         a slot missed while the container was down is caught up once
  barman-ha cron-check "<cron>"...       print true/false per expression: does croniter run it
  barman-ha clean-errors <server>        remove files in errors/ whose content is already archived
  barman-ha explain-errors <server>      for each file left in errors/: which pages differ from the archived copy
  barman-ha has-backup <server>          exit 0 when a finished backup exists (a STARTED or FAILED one does not count)
  barman-ha gaps <server>                WAL segments missing from the archive, as JSON (see wal_gaps)
  barman-ha check <server>               `barman check`, and no WAL gap since the newest backup (health)
  barman-ha switch-wal <server>          close the primary's current WAL segment (as the barman role)
  barman-ha verify <server> [<id>]       check a backup (barman check-backup, and verify-backup when it has a
                                         manifest); the newest finished one by default; records the result
  barman-ha verify-new <server>          verify the newest finished backup unless it already was
  barman-ha drill <server>               restore drill: verify the newest backup, recover it into a scratch
                                         directory, start PostgreSQL on it to consistency, read every row
                                         (pg_dumpall), stop and remove it; records the result
  barman-ha state                        the recorded verification and drill results, as JSON
  barman-ha metrics <server> <file>      write Barman's state as Prometheus metrics (atomically)
  barman-ha serve <dir> <port>           serve <dir>/metrics at /metrics (quietly)
"""
import datetime
import fcntl
import glob
import gzip
import bz2
import json
import os
import http.server
import re
import shutil
import signal
import ssl
import struct
import subprocess
import sys
import time

from croniter import croniter

# Barman's backup directory (the image sets BARMAN_BACKUPS from configs/layout.ts; tests override it).
BARMAN_HOME = os.environ.get("BARMAN_HOME_OVERRIDE") or os.environ.get("BARMAN_BACKUPS", "")


# The fields lib/cron.ts accepts at deploy time; croniter's extensions beyond them (`#`) are refused too.
CRON_FIELD = re.compile(r"^(?:[0-9*,/-]|L|[A-Za-z]{3})+$")


def cron_valid(expr):
    """True when `expr` is in the deploy-time grammar, croniter accepts it and it ever fires (Feb 31 never does)."""
    try:
        fields = expr.split()
        if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields) or not croniter.is_valid(expr):
            return False
        croniter(expr, datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)).get_next(datetime.datetime)
        return True
    except (ValueError, KeyError):  # croniter's errors are ValueErrors
        return False


def latest_slot(expr, now):
    """The newest time `expr` fires at or before `now` (UTC, whole minutes)."""
    return croniter(expr, now.replace(second=0, microsecond=0) + datetime.timedelta(seconds=1)).get_prev(datetime.datetime)


def due_slot(expr, last, now):
    """The slot a backup is due for, or None: the newest slot after `last` (the slot handled before).

    One backup catches up however many slots were missed (Barman down over the night); with no `last`
    (first start) the current slot only becomes the baseline, since the first backup is taken anyway."""
    if not expr.strip():
        return None
    slot = latest_slot(expr, now)
    if last is None or slot <= last:
        return None
    return slot


def due(expr, stamp_file):
    """Exit 0 and print the slot when a scheduled backup is due; records the slot in `stamp_file`."""
    if not expr.strip():
        return 1
    if not cron_valid(expr):
        print(f"barman-ha: not a valid schedule: {expr!r}", file=sys.stderr)
        return 2
    now = datetime.datetime.now(datetime.timezone.utc)
    last = None
    try:
        with open(stamp_file) as f:
            last = datetime.datetime.strptime(f.read().strip(), "%Y-%m-%dT%H:%M").replace(tzinfo=datetime.timezone.utc)
    except (FileNotFoundError, ValueError):
        pass
    slot = due_slot(expr, last, now)
    if last is None or slot is not None:
        with open(stamp_file + ".new", "w") as f:
            f.write((slot or latest_slot(expr, now)).strftime("%Y-%m-%dT%H:%M"))
        os.replace(stamp_file + ".new", stamp_file)
    if slot is None:
        return 1
    late = int((now - slot).total_seconds() // 60)
    print(f"{slot:%Y-%m-%d %H:%M} UTC" + (f" (missed by {late} min: catching up)" if late >= 2 else ""))
    return 0


def _read_wal(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    return data


def clean_errors(server):
    """Remove an errors/ file only when its content (up to its last non-zero byte) is, byte for byte,
    the start of an archived segment with the same number on the same or a later timeline: a true
    duplicate, or the old timeline's partial segment that the new timeline's first segment contains; or
    when it differs from the archived copy only in pages that hold no WAL of their address (zeroed or
    recycled: the two copies of a segment closed by a switch). Anything else (e.g. WAL the old primary
    wrote but never replicated) stays for an operator."""
    errors = os.path.join(BARMAN_HOME, server, "errors")
    wals = os.path.join(BARMAN_HOME, server, "wals")
    removed = 0
    for path in sorted(glob.glob(os.path.join(errors, "*"))):
        name = os.path.basename(path)
        m = re.match(r"^([0-9A-F]{8})([0-9A-F]{16})", name)
        if not m:
            continue
        content = _read_wal(path).rstrip(b"\0")
        if not content:
            continue
        tli = int(m.group(1), 16)
        same = os.path.join(wals, name[:16], name[:24])
        end = _timeline_end(wals, tli)
        segment = int(m.group(2)[:8], 16) * 256 + int(m.group(2)[8:], 16)
        if end is not None and os.path.exists(same) and _same_up_to_end(_read_wal(same), _read_wal(path), segment, tli, end):
            os.unlink(path)
            removed += 1
            print("barman-ha: removed errors/%s: it matches the archived copy up to the end of timeline %d (%X/%X); "
                  "past it, it holds no WAL of that timeline" % (name, tli, end >> 32, end & 0xFFFFFFFF), file=sys.stderr)
            continue
        if end is not None and os.path.exists(same) and _same_up_to_end(_read_wal(same), _read_wal(path), segment, tli, end, diverged=True):
            # WAL an old primary wrote on its timeline after the cluster had moved on (never acknowledged in
            # synchronous mode, never part of the history any restore follows): kept, out of errors/.
            diverged = os.path.join(BARMAN_HOME, server, "diverged")
            os.makedirs(diverged, exist_ok=True)
            os.replace(path, os.path.join(diverged, name))
            removed += 1
            print("barman-ha: moved errors/%s to diverged/: it matches the archived copy up to the end of timeline %d "
                  "(%X/%X) and past it holds WAL an old primary wrote on that timeline after the failover; no restore "
                  "replays it; kept for inspection" % (name, tli, end >> 32, end & 0xFFFFFFFF), file=sys.stderr)
            continue
        for later in range(tli, tli + 64):
            candidate_name = "%08X%s" % (later, m.group(2))
            candidate = os.path.join(wals, candidate_name[:16], candidate_name)
            if os.path.exists(candidate) and _read_wal(candidate).startswith(content):
                os.unlink(path)
                removed += 1
                print("barman-ha: removed errors/%s: its content is archived in %s" % (name, candidate_name), file=sys.stderr)
                break
        else:
            segment_start = (int(m.group(2)[:8], 16) * 256 + int(m.group(2)[8:], 16)) * SEGMENT_SIZE
            if os.path.exists(same) and _differs_only_in_stale_pages(_read_wal(same), _read_wal(path), segment_start, tli):
                os.unlink(path)
                removed += 1
                print("barman-ha: removed errors/%s: where it differs from the archived copy it holds no WAL of that "
                      "address (zeroed or recycled pages, e.g. past a WAL switch)" % name, file=sys.stderr)
    return 0 if removed >= 0 else 1


SEGMENT_SIZE = 16 * 1024 * 1024
PAGE_SIZE = 8192


def _page_header(data, offset):
    """A WAL page's header at `offset` as text: magic, timeline and page address (or zero / absent)."""
    page = data[offset:offset + PAGE_SIZE]
    if not page:
        return "absent"
    if not page.rstrip(b"\0"):
        return "zero"
    if len(page) < 16:
        return "short"
    magic, _info, tli, addr = struct.unpack("<HHIQ", page[:16])
    return "magic %04X tli %d addr %X/%X" % (magic, tli, addr >> 32, addr & 0xFFFFFFFF)


def explain_errors(server):
    """What clean-errors sees in each errors/ file, for an operator deciding what to do with it: the archived
    copy of the same segment, how many pages differ, and the first and last differing pages' headers in both."""
    errors = os.path.join(BARMAN_HOME, server, "errors")
    wals = os.path.join(BARMAN_HOME, server, "wals")
    for path in sorted(glob.glob(os.path.join(errors, "*"))):
        name = os.path.basename(path)
        m = re.match(r"^([0-9A-F]{8})([0-9A-F]{16})", name)
        if not m:
            print("%s: not a WAL segment" % name)
            continue
        same = os.path.join(wals, name[:16], name[:24])
        if not os.path.exists(same):
            print("%s: no archived copy of %s" % (name, name[:24]))
            continue
        archived, duplicate = _read_wal(same), _read_wal(path)
        segment_start = (int(m.group(2)[:8], 16) * 256 + int(m.group(2)[8:], 16)) * SEGMENT_SIZE
        differing = [o for o in range(0, max(len(archived), len(duplicate)), PAGE_SIZE)
                     if archived[o:o + PAGE_SIZE] != duplicate[o:o + PAGE_SIZE]]
        end = _timeline_end(wals, int(m.group(1), 16))
        inside = end is not None and segment_start <= end < segment_start + SEGMENT_SIZE
        agree = "agree up to it" if inside and archived[:end - segment_start] == duplicate[:end - segment_start] else "differ before it"
        print("%s: %d of %d pages differ from the archived copy (sizes %d and %d); timeline end: %s"
              % (name, len(differing), (max(len(archived), len(duplicate)) + PAGE_SIZE - 1) // PAGE_SIZE,
                 len(archived), len(duplicate),
                 "%X/%X, in this segment, the copies %s" % (end >> 32, end & 0xFFFFFFFF, agree) if inside
                 else "%X/%X" % (end >> 32, end & 0xFFFFFFFF) if end is not None else "none (the timeline goes on)"))
        for offset in (differing[:3] + differing[-2:]) if len(differing) > 5 else differing:
            print("  page at %d (WAL %X/%X): archived %s; this copy %s" % (
                offset, (segment_start + offset) >> 32, (segment_start + offset) & 0xFFFFFFFF,
                _page_header(archived, offset), _page_header(duplicate, offset)))
    return 0


def _timeline_end(wals, tli):
    """Where timeline `tli` ended (its child's history file says), as an LSN; None while it has no child."""
    for path in sorted(glob.glob(os.path.join(wals, "*.history"))):
        for line in _read_wal(path).decode("ascii", "replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].isdigit() and int(parts[0]) == tli and "/" in parts[1]:
                hi, lo = parts[1].split("/")
                return (int(hi, 16) << 32) | int(lo, 16)
    return None


def _holds_wal_after(data, start, segment_start, tli):
    """Whether any page of `data` from byte `start` on is a WAL page written at that address on `tli`
    (a recycled segment keeps old pages, whose recorded page address is elsewhere)."""
    first_page = (start + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE
    for offset in range(first_page, len(data), PAGE_SIZE):
        page = data[offset:offset + 24]
        if len(page) < 16 or page == bytes(len(page)):
            continue
        magic, _info, page_tli, page_addr = struct.unpack("<HHIQ", page[:16])
        if page_tli == tli and page_addr == segment_start + offset and magic != 0:
            return True
    return False


def _is_wal_page(page, tli, address):
    """Whether `page` is a WAL page written at `address` on timeline `tli` (its header says so); a zeroed
    page or a recycled one (an old page address) is not."""
    if len(page) < 16 or page[:16] == bytes(16):
        return False
    magic, _info, page_tli, page_addr = struct.unpack("<HHIQ", page[:16])
    return magic != 0 and page_tli == tli and page_addr == address


def _differs_only_in_stale_pages(archived, duplicate, segment_start, tli):
    """Two copies of one segment: the duplicate adds nothing when every page where they differ is, in the
    duplicate, no WAL of that address on that timeline (zeroed, or recycled from an older segment), e.g.
    the tail past a WAL switch that pg_receivewal zero-fills and pg_wal keeps recycled. A page of real WAL
    that differs keeps the duplicate for an operator."""
    if not duplicate.rstrip(b"\0"):
        return False
    for offset in range(0, max(len(archived), len(duplicate)), PAGE_SIZE):
        mine, theirs = duplicate[offset:offset + PAGE_SIZE], archived[offset:offset + PAGE_SIZE]
        if mine == theirs or not mine.rstrip(b"\0"):
            continue
        if _is_wal_page(mine, tli, segment_start + offset):
            return False
    return True


def _same_up_to_end(archived, duplicate, segment, tli, end, diverged=False):
    """Two copies of the segment in which timeline `tli` ended at LSN `end`: harmless when they agree up to
    `end` and the duplicate holds no WAL of that timeline past it (what is past the end is never replayed).
    With `diverged`: they agree up to `end` and the duplicate does hold WAL of that timeline past it (an old
    primary's writes after the failover)."""
    segment_start = segment * SEGMENT_SIZE
    if not segment_start <= end < segment_start + SEGMENT_SIZE:
        return False
    cut = end - segment_start
    return archived[:cut] == duplicate[:cut] and _holds_wal_after(duplicate, cut, segment_start, tli) == diverged


WAL_NAME = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")


def _segment_name(tli, seg):
    return "%08X%08X%08X" % (tli, seg // 256, seg % 256)


def wal_gaps(names, from_wal=None):
    """Segments missing from an archive: inside a timeline, or between one timeline's last segment and
    the next one's first (a new timeline starts in the segment where the old one ended). Counted from
    from_wal (a backup's begin WAL), since Barman deletes older WAL on purpose."""
    start = 0
    if from_wal:
        m = WAL_NAME.match(from_wal)
        start = int(m.group(2), 16) * 256 + int(m.group(3), 16)
    by_tli = {}
    for name in names:
        m = WAL_NAME.match(name)
        if m:
            seg = int(m.group(2), 16) * 256 + int(m.group(3), 16)
            if seg >= start:
                by_tli.setdefault(int(m.group(1), 16), set()).add(seg)
    out, previous = [], None
    for tli in sorted(by_tli):
        segs = sorted(by_tli[tli])
        if previous and segs[0] > previous[1] + 1:
            out.append("%s (between timeline %d and %d)" % (_segment_name(previous[0], previous[1] + 1), previous[0], tli))
        for a, b in zip(segs, segs[1:]):
            out += [_segment_name(tli, missing) for missing in range(a + 1, b)]
        previous = (tli, segs[-1])
    return out


def _done_backups(server):
    """Finished backups as (id, begin_wal), oldest first, from their backup.info files."""
    out = []
    for info in sorted(glob.glob(os.path.join(BARMAN_HOME, server, "base", "*", "backup.info"))):
        fields = {}
        with open(info) as f:
            for line in f:
                key, _, value = line.rstrip("\n").partition("=")
                fields[key] = value
        if fields.get("status") == "DONE" and fields.get("begin_wal"):
            out.append((os.path.basename(os.path.dirname(info)), fields["begin_wal"]))
    return out


def has_backup(server):
    """Exit 0 when the server has a finished backup (DONE, or WAITING_FOR_WALS: complete, its end WAL not yet
    archived). A backup left STARTED (its process ended with the container) or FAILED does not count, so the
    first backup is taken again instead of never; such a backup is named on stderr and kept."""
    statuses = {}
    for info in glob.glob(os.path.join(BARMAN_HOME, server, "base", "*", "backup.info")):
        with open(info) as f:
            for line in f:
                if line.startswith("status="):
                    statuses[os.path.basename(os.path.dirname(info))] = line.strip().partition("=")[2]
    if any(status in ("DONE", "WAITING_FOR_WALS") for status in statuses.values()):
        return 0
    for backup_id, status in sorted(statuses.items()):
        print("backup %s is %s: no finished backup yet" % (backup_id, status), file=sys.stderr)
    return 1


def gaps_report(server):
    """{"since_oldest_backup": [...], "since_newest_backup": [...], "newest_backup": id}: a gap since the
    newest backup means point-in-time recovery to now is impossible until the next backup."""
    names = [os.path.basename(p) for p in glob.glob(os.path.join(BARMAN_HOME, server, "wals", "*", "*"))]
    backups = _done_backups(server)
    return {
        "since_oldest_backup": wal_gaps(names, backups[0][1]) if backups else [],
        "since_newest_backup": wal_gaps(names, backups[-1][1]) if backups else [],
        "newest_backup": backups[-1][0] if backups else None,
    }


def health(server):
    code, text = _run(["barman", "check", server, "--nagios"])
    recent = gaps_report(server)["since_newest_backup"]
    print(text.strip())
    if recent:
        print("WAL GAP since the newest backup: %s (take a base backup)" % ", ".join(recent[:5]))
        return 2
    return code


def switch_wal(server, conf_dir=None):
    """Close the primary's current WAL segment as the barman role and print its name. Barman 3.4's own
    switch-wal wants a superuser; the barman role has EXECUTE on pg_switch_wal(). A transactional message
    first, committed on its own (two -c, two transactions): the segment then holds a commit record with a
    timestamp, so a recovery target time up to now is reached, and an idle segment still switches."""
    import configparser
    parser = configparser.ConfigParser()
    parser.read(os.path.join(conf_dir or os.environ["BARMAN_SERVER_DIR"], server + ".conf"))
    code, out = _run(["psql", parser.get(server, "conninfo"), "-XAt",
                      "-c", "SELECT pg_logical_emit_message(true, 'patroni-ha', 'switch-wal')",
                      "-c", "SELECT pg_walfile_name(pg_switch_wal())"])
    print(out.strip().splitlines()[-1] if out.strip() else "")
    return code


# Where verification and drill results are kept (Barman's home volume; tests override it).
STATE_DIR = os.environ.get("BARMAN_HA_STATE_DIR") or os.environ.get("HOME", "/tmp")
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def load_state():
    """{"since": epoch, "verify": {...}, "verify_ok_at": epoch, "drill": {...}, "drill_ok_at": epoch}.

    `since` (when the state began) stands in for a success not yet seen, so "too long without a successful
    drill" can fire on a stack whose drill never ran."""
    path = os.path.join(STATE_DIR, ".drill-state.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        state = {"since": int(time.time())}
        save_state(state)
        return state


def save_state(state):
    path = os.path.join(STATE_DIR, ".drill-state.json")
    with open(path + ".new", "w") as f:
        json.dump(state, f)
    os.replace(path + ".new", path)


def _record(kind, backup_id, ok, detail, started=None):
    state = load_state()
    at = int(time.time())
    state[kind] = {"backup": backup_id, "ok": ok, "at": at, "detail": detail[-500:]}
    if started is not None:
        state[kind]["seconds"] = round(time.time() - started, 1)
    if ok:
        state[kind + "_ok_at"] = at
    save_state(state)


def verify(server, backup_id=None):
    """A backup is sound when Barman has every WAL file it needs to be consistent (check-backup) and, for
    backups with a manifest (backup_method postgres), every file matches it (verify-backup)."""
    backups = _done_backups(server)
    backup_id = backup_id or (backups[-1][0] if backups else None)
    if not backup_id:
        print("barman-ha verify: no finished backup", file=sys.stderr)
        return 1
    code, out = _run_all(["barman", "check-backup", server, backup_id])
    problems = [] if code == 0 else ["check-backup: " + (one_line(out) or "exit %d" % code)]
    if os.path.exists(os.path.join(BARMAN_HOME, server, "base", backup_id, "data", "backup_manifest")):
        code, out = _run_all(["barman", "verify-backup", server, backup_id])
        if code != 0:
            problems.append("verify-backup: " + (one_line(out) or "exit %d" % code))
    _record("verify", backup_id, not problems, "; ".join(problems))
    print("backup %s: %s" % (backup_id, "verified" if not problems else "VERIFICATION FAILED: " + "; ".join(problems)))
    return 0 if not problems else 1


def verify_new(server):
    backups = _done_backups(server)
    if not backups or load_state().get("verify", {}).get("backup") == backups[-1][0]:
        return 0
    return verify(server, backups[-1][0])


def _log_tail(path, lines=8):
    try:
        with open(path, errors="replace") as f:
            text = f.read().splitlines()
    except FileNotFoundError:
        return ""
    wanted = [l for l in text if re.search(r"FATAL|PANIC|ERROR|recovery|consistent", l)]
    return " | ".join((wanted or text)[-lines:])


def drill(server, port=5499, timeout=600):
    """Restore the newest backup into a scratch directory and prove it starts and reads. One at a time."""
    lock = open(os.path.join(STATE_DIR, ".drill.lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print("barman-ha drill: a drill is already running", file=sys.stderr)
        return 3
    started = time.time()
    step = lambda msg: print("drill: %s (%.1f s)" % (msg, time.time() - started), file=sys.stderr, flush=True)
    backups = _done_backups(server)
    if not backups:
        _record("drill", None, False, "no finished backup to restore", started)
        print("restore drill: FAILED: no finished backup to restore")
        return 1
    backup_id = backups[-1][0]
    scratch = os.path.join(STATE_DIR, "drill")
    data, sock = os.path.join(scratch, "data"), os.path.join(scratch, "sock")
    shutil.rmtree(scratch, ignore_errors=True)
    proc, failure, summary = None, None, ""
    try:
        step("verifying backup %s" % backup_id)
        if verify(server, backup_id) != 0:
            failure = "backup %s failed verification: %s" % (backup_id, load_state()["verify"]["detail"])
            return 1
        step("recovering backup %s into %s" % (backup_id, data))
        code, out = _run_all(["barman", "recover", "--target-immediate", server, backup_id, data], timeout=3600)
        if code != 0:
            failure = "barman recover failed: " + one_line(out)[-400:]
            return 1
        os.makedirs(sock, mode=0o700)
        # Its own pg_hba (trust on a socket only barman can reach) and no link to the cluster: no
        # archiving, no streaming from a node, no TCP.
        with open(os.path.join(scratch, "hba.conf"), "w") as f:
            f.write("local all all trust\n")
        open(os.path.join(scratch, "ident.conf"), "w").close()
        settings = {"port": port, "listen_addresses": "", "unix_socket_directories": sock, "hba_file": os.path.join(scratch, "hba.conf"),
                    "ident_file": os.path.join(scratch, "ident.conf"), "archive_mode": "off", "archive_command": "",
                    "primary_conninfo": "", "primary_slot_name": "", "cluster_name": "drill", "logging_collector": "off",
                    "hot_standby": "on", "synchronous_standby_names": "",
                    # The node's certificate files are not here, and nothing dials this copy over TCP.
                    "ssl": "off"}
        args = [os.path.join(PG_BIN, "postgres"), "-D", data] + [a for k, v in settings.items() for a in ("-c", "%s=%s" % (k, v))]
        step("starting PostgreSQL on it")
        log = open(os.path.join(scratch, "postgres.log"), "w")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        psql = [os.path.join(PG_BIN, "psql"), "-h", sock, "-p", str(port), "-U", "postgres", "-d", "postgres", "-XAtq"]
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                failure = "PostgreSQL stopped during recovery: " + _log_tail(os.path.join(scratch, "postgres.log"))
                return 1
            code, out = _run_all(psql + ["-c", "SELECT count(*) FROM pg_database WHERE NOT datistemplate"])
            if code == 0:
                databases = int(out.strip() or 0)
                break
            if time.time() > deadline:
                failure = "not consistent after %d s: %s" % (timeout, _log_tail(os.path.join(scratch, "postgres.log")))
                return 1
            time.sleep(1)
        step("consistent; reading every row (pg_dumpall)")
        # Streamed and counted, never held: the dump is as large as the database.
        errors_path = os.path.join(scratch, "dump.err")
        with open(errors_path, "w") as errors:
            dump = subprocess.Popen([os.path.join(PG_BIN, "pg_dumpall"), "-h", sock, "-p", str(port), "-U", "postgres"],
                                    stdout=subprocess.PIPE, stderr=errors)
            dumped = 0
            for chunk in iter(lambda: dump.stdout.read(1 << 20), b""):
                dumped += len(chunk)
            dump.wait()
        if dump.returncode != 0:
            with open(errors_path, errors="replace") as f:
                failure = "pg_dumpall failed: " + one_line(f.read())[-400:]
            return 1
        summary = "%d database(s), %d bytes dumped" % (databases, dumped)
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(scratch, ignore_errors=True)
        _record("drill", backup_id, failure is None, failure or summary, started)
        print("restore drill of backup %s: %s in %.1f s" % (backup_id, "OK (%s)" % summary if failure is None else "FAILED: " + failure,
                                                              time.time() - started))


# Barman echoes each message as a log line too: "2026-11-26 23:29:44,880 [993] barman.backup ERROR: ...".
LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \[\d+\] [\w.]+ [A-Z]+: ")
# ... and prints errors once more as "ERROR: ...".
LEVEL_PREFIX = re.compile(r"^(?:ERROR|WARNING|INFO): ")


def one_line(text):
    """Barman's output as one line: log prefixes dropped, repeats removed, lines joined by "; "."""
    seen = []
    for line in text.splitlines():
        line = LEVEL_PREFIX.sub("", LOG_PREFIX.sub("", line)).strip()
        if line and line not in seen:
            seen.append(line)
    return "; ".join(seen)


def _run_all(args, timeout=None):
    """Exit code and stdout+stderr together (Barman prints its errors on either)."""
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return r.returncode, r.stdout


def _run(args):
    r = subprocess.run(args, capture_output=True, text=True)
    return r.returncode, r.stdout


def parse_check(text):
    """`barman check` lines ("\tname: OK (...)") -> {name: ok}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s+([^:]+):\s+(OK|FAILED)", line)
        if m:
            out[m.group(1).strip()] = m.group(2) == "OK"
    return out


def certificate_not_after(path):
    """When the certificate (PEM) in `path` expires, in seconds since the epoch; None without a readable one."""
    if not path or not os.path.exists(path):
        return None
    code, out = _run(["openssl", "x509", "-noout", "-enddate", "-in", path])
    if code != 0 or not out.startswith("notAfter="):
        return None
    return int(ssl.cert_time_to_seconds(out.strip().split("=", 1)[1]))


def render_metrics(server, check_code, checks, backup_ids, failed_backups, status_text, now, gaps=None, state=None, volumes=None,
                   ca_not_after=None):
    esc = lambda v: v.replace("\\", "\\\\").replace('"', '\\"')
    lines = [
        "# HELP barman_check_ok 1 when `barman check` passes for the server.",
        "# TYPE barman_check_ok gauge",
        'barman_check_ok{server="%s"} %d' % (server, 1 if check_code == 0 and all(checks.values()) else 0),
        "# HELP barman_check One line of `barman check`: 1 OK, 0 FAILED.",
        "# TYPE barman_check gauge",
    ]
    for name in sorted(checks):
        lines.append('barman_check{server="%s",check="%s"} %d' % (server, esc(name), 1 if checks[name] else 0))
    lines += ["# TYPE barman_backups gauge", 'barman_backups{server="%s",status="done"} %d' % (server, len(backup_ids)),
              'barman_backups{server="%s",status="failed"} %d' % (server, failed_backups)]
    if backup_ids:
        newest = max(backup_ids)
        began = datetime.datetime.strptime(newest[:15], "%Y%m%dT%H%M%S").replace(tzinfo=datetime.timezone.utc)
        lines += ["# HELP barman_last_backup_age_seconds Seconds since the newest finished backup began.",
                  "# TYPE barman_last_backup_age_seconds gauge",
                  'barman_last_backup_age_seconds{server="%s"} %d' % (server, (now - began).total_seconds())]
    if gaps is not None:
        lines += ["# HELP barman_wal_gaps WAL segments missing from the archive since the oldest/newest finished backup.",
                  "# TYPE barman_wal_gaps gauge"]
        for scope in ("since_oldest_backup", "since_newest_backup"):
            lines.append('barman_wal_gaps{server="%s",scope="%s"} %d' % (server, scope, len(gaps[scope])))
    if volumes:
        lines += ["# HELP barman_volume_size_bytes Size of a volume mounted in the Barman container.",
                  "# TYPE barman_volume_size_bytes gauge",
                  "# HELP barman_volume_available_bytes Bytes an unprivileged writer can still use on it.",
                  "# TYPE barman_volume_available_bytes gauge"]
        for name in sorted(volumes):
            size, available = volumes[name]
            lines += ['barman_volume_size_bytes{volume="%s"} %d' % (name, size),
                      'barman_volume_available_bytes{volume="%s"} %d' % (name, available)]
    if state is not None:
        for kind, ok_name, age_name, what in (
                ("verify", "barman_last_verify_ok", "barman_last_verify_success_age_seconds", "verification of the newest backup"),
                ("drill", "barman_restore_drill_ok", "barman_restore_drill_success_age_seconds", "restore drill")):
            if kind in state:
                lines += ["# HELP %s 1 when the last %s succeeded." % (ok_name, what), "# TYPE %s gauge" % ok_name,
                          '%s{server="%s"} %d' % (ok_name, server, 1 if state[kind]["ok"] else 0)]
            since = state.get(kind + "_ok_at", state.get("since", now.timestamp()))
            lines += ["# HELP %s Seconds since the last successful %s (or since Barman's first start)." % (age_name, what),
                      "# TYPE %s gauge" % age_name, '%s{server="%s"} %d' % (age_name, server, now.timestamp() - since)]
        if "seconds" in state.get("drill", {}):
            lines += ["# TYPE barman_restore_drill_seconds gauge",
                      'barman_restore_drill_seconds{server="%s"} %s' % (server, state["drill"]["seconds"])]
    if ca_not_after is not None:
        # Every certificate of the stack is issued with its CA, for the same validity: the CA's end is theirs.
        lines += ["# HELP patroni_ha_ca_certificate_expiry_timestamp_seconds When the stack's CA certificate (and the certificates issued with it) expires.",
                  "# TYPE patroni_ha_ca_certificate_expiry_timestamp_seconds gauge",
                  "patroni_ha_ca_certificate_expiry_timestamp_seconds %d" % ca_not_after]
    m = re.search(r"Failures of WAL archiver:\s*(\d+)", status_text)
    if m:
        lines += ["# TYPE barman_archiver_failures gauge", 'barman_archiver_failures{server="%s"} %s' % (server, m.group(1))]
    m = re.search(r"Last archived WAL:\s*\S+, at (.+)$", status_text, re.M)
    if m:
        try:
            at = datetime.datetime.strptime(m.group(1).strip(), "%a %b %d %H:%M:%S %Y").replace(tzinfo=datetime.timezone.utc)
            lines += ["# TYPE barman_last_archived_wal_age_seconds gauge",
                      'barman_last_archived_wal_age_seconds{server="%s"} %d' % (server, (now - at).total_seconds())]
        except ValueError:
            pass
    return "\n".join(lines) + "\n"


def volume_usage():
    """{name: (size, available)} in bytes for the volumes mounted in this container: Barman's backups,
    its home (catalogue, drill scratch) and the WAL hand-off share (streaming mode). Not a mount: left out
    (the path would report the container's own filesystem)."""
    out = {}
    for name, path in (("backups", os.environ.get("BARMAN_BACKUPS", "")), ("home", os.environ.get("HOME", "")),
                       ("wal_share", os.environ.get("WAL_SHARE", ""))):
        if path and os.path.ismount(path):
            st = os.statvfs(path)
            out[name] = (st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize)
    return out


def metrics(server, out_file):
    code, check_text = _run(["barman", "check", server])
    _, backups_text = _run(["barman", "list-backups", server])
    done = [l.split()[1] for l in backups_text.splitlines() if len(l.split()) > 1 and "FAILED" not in l and "WAITING" not in l and "STARTED" not in l]
    failed = sum(1 for l in backups_text.splitlines() if "FAILED" in l)
    _, status_text = _run(["barman", "status", server])
    text = render_metrics(server, code, parse_check(check_text), done, failed, status_text, datetime.datetime.now(datetime.timezone.utc),
                          gaps_report(server), load_state(), volume_usage(), certificate_not_after(os.environ.get("TLS_CA_FILE", "")))
    tmp = out_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, out_file)
    return 0


def serve(directory, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/metrics":
                self.send_error(404)
                return
            try:
                with open(os.path.join(directory, "metrics"), "rb") as f:
                    body = f.read()
            except FileNotFoundError:
                body = b"barman_check_ok 0\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


def main(argv):
    if len(argv) == 4 and argv[1] == "metrics":
        return metrics(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "serve":
        serve(argv[2], int(argv[3]))
        return 0
    if len(argv) == 4 and argv[1] == "due":
        return due(argv[2], argv[3])
    if len(argv) >= 3 and argv[1] == "cron-check":
        print(json.dumps([cron_valid(e) for e in argv[2:]]))
        return 0
    if len(argv) == 3 and argv[1] == "clean-errors":
        return clean_errors(argv[2])
    if len(argv) == 3 and argv[1] == "explain-errors":
        return explain_errors(argv[2])
    if len(argv) == 3 and argv[1] == "has-backup":
        return has_backup(argv[2])
    if len(argv) == 3 and argv[1] == "gaps":
        print(json.dumps(gaps_report(argv[2])))
        return 0
    if len(argv) == 3 and argv[1] == "switch-wal":
        return switch_wal(argv[2])
    if len(argv) == 3 and argv[1] == "check":
        return health(argv[2])
    if len(argv) in (3, 4) and argv[1] == "verify":
        return verify(argv[2], argv[3] if len(argv) == 4 else None)
    if len(argv) == 3 and argv[1] == "verify-new":
        return verify_new(argv[2])
    if len(argv) == 3 and argv[1] == "drill":
        return drill(argv[2])
    if len(argv) == 2 and argv[1] == "state":
        print(json.dumps(load_state()))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
