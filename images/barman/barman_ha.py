#!/usr/bin/python3
"""Helpers for the Barman container of patroni-ha.

  barman-ha due "<cron>" <stamp-file>   exit 0 when a scheduled backup is due this minute (and records it)
  barman-ha clean-errors <server>        remove files in errors/ whose content is already archived
  barman-ha metrics <server> <file>      write Barman's state as Prometheus metrics (atomically)
  barman-ha serve <dir> <port>           serve <dir>/metrics at /metrics (quietly)
"""
import datetime
import glob
import gzip
import bz2
import os
import http.server
import re
import subprocess
import sys
import time

BARMAN_HOME = os.environ.get("BARMAN_HOME_OVERRIDE", "/data/pg-backup")


def _field_matches(field, value, low, high):
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            start, end = (int(x) for x in part.split("-", 1))
        else:
            start = end = int(part)
        if start <= value <= end and (value - start) % step == 0:
            return True
    return False


def cron_matches(expr, now):
    """Standard 5-field cron (minute hour day-of-month month day-of-week, 0 or 7 = Sunday)."""
    minute, hour, dom, month, dow = expr.split()
    weekday = (now.isoweekday()) % 7
    dow_ok = _field_matches(dow, weekday, 0, 7) or (weekday == 0 and _field_matches(dow, 7, 0, 7))
    dom_ok = _field_matches(dom, now.day, 1, 31)
    # As in cron: when both day fields are restricted, either may match.
    day_ok = (dom_ok or dow_ok) if (dom != "*" and dow != "*") else (dom_ok and dow_ok)
    return (_field_matches(minute, now.minute, 0, 59) and _field_matches(hour, now.hour, 0, 23)
            and _field_matches(month, now.month, 1, 12) and day_ok)


def due(expr, stamp_file):
    if not expr.strip():
        return 1
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    if not cron_matches(expr, now):
        return 1
    key = now.strftime("%Y-%m-%dT%H:%M")
    try:
        with open(stamp_file) as f:
            if f.read().strip() == key:
                return 1
    except FileNotFoundError:
        pass
    with open(stamp_file, "w") as f:
        f.write(key)
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
    duplicate, or the old timeline's partial segment that the new timeline's first segment contains.
    Anything else (e.g. WAL the old primary wrote but never replicated) stays for an operator."""
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
        for later in range(tli, tli + 64):
            candidate_name = "%08X%s" % (later, m.group(2))
            candidate = os.path.join(wals, candidate_name[:16], candidate_name)
            if os.path.exists(candidate) and _read_wal(candidate).startswith(content):
                os.unlink(path)
                removed += 1
                print("barman-ha: removed errors/%s: its content is archived in %s" % (name, candidate_name), file=sys.stderr)
                break
    return 0 if removed >= 0 else 1


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


def render_metrics(server, check_code, checks, backup_ids, failed_backups, status_text, now):
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


def metrics(server, out_file):
    code, check_text = _run(["barman", "check", server])
    _, backups_text = _run(["barman", "list-backups", server])
    done = [l.split()[1] for l in backups_text.splitlines() if len(l.split()) > 1 and "FAILED" not in l and "WAITING" not in l and "STARTED" not in l]
    failed = sum(1 for l in backups_text.splitlines() if "FAILED" in l)
    _, status_text = _run(["barman", "status", server])
    text = render_metrics(server, code, parse_check(check_text), done, failed, status_text, datetime.datetime.now(datetime.timezone.utc))
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
    if len(argv) == 3 and argv[1] == "clean-errors":
        return clean_errors(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
