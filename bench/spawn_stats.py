#!/usr/bin/env python3
"""Helper for bench/spawn.sh (Python 3 standard library only).

Subcommands:
  drive      run a command SEQ times in sequence and CONC_TOTAL times with CONC
             workers; write a JSON result (latencies measured here with
             time.perf_counter around each subprocess.run)
  probe      run the command once; exit 0 if it worked, else print the reason
  na         write a result record for a runner that could not be measured
  leftovers  count what a runner left behind (cgroup dirs, mounts, processes,
             network namespaces) and add it to the runner's result record
  table      print the markdown table from the result records
  cpubusy    print how busy the CPUs are (percent over 1 s), optionally waiting
             for the machine to become quiet first

In command templates, the literal "{id}" is replaced by a unique id per
invocation (PREFIX-sN for the sequential runs, PREFIX-cN for the concurrent
ones, PREFIX-probe for the probe, PREFIX-wN for warm-up).
"""
import argparse
import concurrent.futures as cf
import json
import math
import os
import subprocess
import sys
import time


def substitute(cmd, ident):
    return [a.replace("{id}", ident) for a in cmd]


def run_once(cmd, ident, timeout):
    """Returns (ok, seconds, error text)."""
    argv = substitute(cmd, ident)
    t0 = time.perf_counter()
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - t0, "timeout after %gs" % timeout
    except OSError as e:
        return False, time.perf_counter() - t0, "cannot start: %s" % e
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = err[-1] if err else ""
        return False, dt, "exit %d: %s" % (p.returncode, tail[:200])
    return True, dt, ""


def pct(sorted_vals, q):
    """Nearest-rank percentile."""
    if not sorted_vals:
        return None
    k = max(1, math.ceil(q / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


def ns_mount_count(patterns):
    if not patterns:
        return 0
    try:
        with open("/proc/self/mountinfo") as f:
            return sum(1 for line in f if any(p in line for p in patterns))
    except OSError:
        return 0


def cmd_drive(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    res = {"label": a.label, "seq_n": a.seq, "conc_total": a.conc_total, "conc": a.conc,
           "status": "ok", "errors": []}
    fails = 0

    def note(err):
        if err and len(res["errors"]) < 3 and err not in res["errors"]:
            res["errors"].append(err)

    for i in range(a.warmup):
        ok, _, err = run_once(cmd, "%s-w%d" % (a.prefix, i), a.timeout)
        if not ok:
            note("warm-up: " + err)

    lat = []
    seq_fail = 0
    for i in range(a.seq):
        ok, dt, err = run_once(cmd, "%s-s%d" % (a.prefix, i), a.timeout)
        lat.append(dt)
        if not ok:
            seq_fail += 1
            note(err)
    lat_ok = sorted(lat)
    res["seq_fail"] = seq_fail
    if lat_ok:
        res["p50_ms"] = pct(lat_ok, 50) * 1000
        res["p99_ms"] = pct(lat_ok, 99) * 1000
        res["mean_ms"] = sum(lat_ok) / len(lat_ok) * 1000
        res["min_ms"] = lat_ok[0] * 1000
        res["max_ms"] = lat_ok[-1] * 1000

    conc_fail = 0
    clat = []
    if a.conc_total > 0:
        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(max_workers=a.conc) as ex:
            futs = [ex.submit(run_once, cmd, "%s-c%d" % (a.prefix, i), a.timeout)
                    for i in range(a.conc_total)]
            for f in futs:
                ok, dt, err = f.result()
                clat.append(dt)
                if not ok:
                    conc_fail += 1
                    note(err)
        wall = time.perf_counter() - t0
        res["conc_wall_s"] = wall
        res["tasks_per_s"] = a.conc_total / wall
        clat.sort()
        res["conc_p50_ms"] = pct(clat, 50) * 1000
    res["conc_fail"] = conc_fail
    res["failures"] = seq_fail + conc_fail
    # mounts left in this (possibly private) mount namespace, e.g. the crun helper ns
    res["ns_mounts"] = ns_mount_count(a.mount_pattern)
    with open(a.out, "w") as f:
        json.dump(res, f)
    return 0


def cmd_probe(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    ok, dt, err = run_once(cmd, "%s-probe" % a.prefix, a.timeout)
    if ok:
        return 0
    print(err or "failed")
    return 1


def cmd_na(a):
    res = {"label": a.label, "status": "n/a", "reason": a.reason,
           "seq_n": a.seq, "conc_total": a.conc_total, "conc": a.conc}
    with open(a.out, "w") as f:
        json.dump(res, f)
    return 0


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def cmd_leftovers(a):
    pats = [p for p in a.pattern if p]
    cg_pats = [p for p in a.cgroup_pattern if p] or pats
    me = {os.getpid(), os.getppid()}
    counts = {"cgroups": 0, "mounts": 0, "procs": 0, "netns": 0}
    details = []

    # cgroup directories (v1 hierarchies and the unified one), down to depth 4
    root = "/sys/fs/cgroup"
    for dirpath, dirnames, _ in os.walk(root):
        depth = dirpath[len(root):].count("/")
        if depth >= 4:
            dirnames[:] = []
        for d in dirnames:
            if any(p in d for p in cg_pats):
                counts["cgroups"] += 1
                if len(details) < 5:
                    details.append(os.path.join(dirpath, d))

    # mounts seen by this process and by pid 1
    seen = set()
    for mi in ("/proc/self/mountinfo", "/proc/1/mountinfo"):
        for line in read_text(mi).splitlines():
            if line in seen:
                continue
            seen.add(line)
            if any(p in line for p in pats):
                counts["mounts"] += 1
                if len(details) < 5:
                    details.append("mount: " + line[:120])

    # processes whose cmdline, root, cwd or cgroup mention the runner's ids/paths
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in me:
            continue
        base = "/proc/" + pid
        text = read_text(base + "/cmdline").replace("\0", " ")
        for link in ("root", "cwd"):
            try:
                text += " " + os.readlink(base + "/" + link)
            except OSError:
                pass
        text += " " + read_text(base + "/cgroup")
        if any(p in text for p in pats):
            counts["procs"] += 1
            if len(details) < 5:
                details.append("pid %s: %s" % (pid, read_text(base + "/comm").strip()))

    # network namespaces: new entries in /run/netns and `ip netns list` vs. baseline
    base_ns = set(a.netns_baseline.split()) if a.netns_baseline else set()
    now_ns = set()
    try:
        now_ns.update(os.listdir("/run/netns"))
    except OSError:
        pass
    try:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=10).stdout
        now_ns.update(l.split()[0] for l in out.decode().splitlines() if l.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    new_ns = now_ns - base_ns
    counts["netns"] = len(new_ns)
    details.extend("netns: " + n for n in sorted(new_ns)[:3])

    counts["state"] = a.state
    try:
        with open(a.out) as f:
            res = json.load(f)
    except (OSError, ValueError):
        res = {}
    ns_mounts = res.get("ns_mounts", 0)
    counts["ns_mounts"] = ns_mounts
    res["leftovers"] = counts
    res["leftover_total"] = sum(v for v in counts.values())
    res["leftover_details"] = details
    with open(a.out, "w") as f:
        json.dump(res, f)
    print(json.dumps(counts))
    return 0


def cpu_busy(interval=1.0):
    """Percent of CPU time not idle/iowait over `interval` seconds (all CPUs)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = sample()
    time.sleep(interval)
    t1, i1 = sample()
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


def cmd_cpubusy(a):
    """Print the CPU busy percent; with --wait, first wait up to that many seconds
    for it to drop below --below."""
    deadline = time.monotonic() + a.wait
    busy = cpu_busy()
    while busy >= a.below and time.monotonic() < deadline:
        busy = cpu_busy()
    print("%.0f" % busy)
    return 0


def fmt(v, nd=1):
    return "n/a" if v is None else ("%.*f" % (nd, v))


def cmd_table(a):
    rows = []
    for path in a.files:
        try:
            with open(path) as f:
                rows.append(json.load(f))
        except (OSError, ValueError) as e:
            rows.append({"label": os.path.basename(path), "status": "n/a",
                         "reason": "no result (%s)" % e})
    ref = next((r for r in rows if r.get("label") == a.ref and r.get("status") == "ok"), None)
    ref_p50 = ref.get("p50_ms") if ref else None
    ref_tps = ref.get("tasks_per_s") if ref else None
    conc = next((r.get("conc") for r in rows if r.get("conc")), "?")
    print("| runner | runs (seq / conc) | p50 ms (sequential) | p99 ms (sequential) "
          "| tasks/s (concurrency %s) | failures | leftovers | ratio p50 to crun "
          "| ratio tasks/s to crun |" % conc)
    print("| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    notes = []
    for r in rows:
        runs = "%s / %s" % (r.get("seq_n", "?"), r.get("conc_total", "?"))
        if r.get("status") != "ok":
            reason = (r.get("reason") or "failed").replace("|", "/")
            print("| %s | %s | n/a (%s) | n/a | n/a | n/a | n/a | n/a | n/a |"
                  % (r["label"], runs, reason))
            continue
        lo = r.get("leftovers")
        if lo is None:
            lo_s = "not checked"
        else:
            parts = ["%s %d" % (k, v) for k, v in lo.items() if v]
            lo_s = str(r.get("leftover_total", 0)) + (" (" + ", ".join(parts) + ")" if parts else "")
            if r.get("leftover_details"):
                notes.append("%s leftovers: %s" % (r["label"], "; ".join(r["leftover_details"])))
        fails = r.get("failures", 0)
        fails_s = "%d (seq %d, conc %d)" % (fails, r.get("seq_fail", 0), r.get("conc_fail", 0)) if fails else "0"
        if r.get("errors"):
            notes.append("%s errors: %s" % (r["label"], " / ".join(r["errors"])))
        rp = (r["p50_ms"] / ref_p50) if (ref_p50 and r.get("p50_ms") is not None) else None
        rt = (r["tasks_per_s"] / ref_tps) if (ref_tps and r.get("tasks_per_s") is not None) else None
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["label"], runs, fmt(r.get("p50_ms"), 2), fmt(r.get("p99_ms"), 2),
            fmt(r.get("tasks_per_s"), 1), fails_s, lo_s, fmt(rp, 2), fmt(rt, 2)))
    if notes:
        print()
        for n in notes:
            print("- " + n.replace("|", "/"))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="sub", required=True)

    d = sub.add_parser("drive")
    d.add_argument("--label", required=True)
    d.add_argument("--prefix", required=True)
    d.add_argument("--seq", type=int, default=200)
    d.add_argument("--conc-total", type=int, default=500)
    d.add_argument("--conc", type=int, default=50)
    d.add_argument("--warmup", type=int, default=3)
    d.add_argument("--timeout", type=float, default=30.0)
    d.add_argument("--mount-pattern", action="append", default=[])
    d.add_argument("--out", required=True)
    d.add_argument("cmd", nargs=argparse.REMAINDER)

    p = sub.add_parser("probe")
    p.add_argument("--prefix", required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("cmd", nargs=argparse.REMAINDER)

    n = sub.add_parser("na")
    n.add_argument("--label", required=True)
    n.add_argument("--reason", required=True)
    n.add_argument("--seq", type=int)
    n.add_argument("--conc-total", type=int)
    n.add_argument("--conc", type=int)
    n.add_argument("--out", required=True)

    l = sub.add_parser("leftovers")
    l.add_argument("--pattern", action="append", default=[])
    l.add_argument("--cgroup-pattern", action="append", default=[])
    l.add_argument("--netns-baseline", default="")
    l.add_argument("--state", type=int, default=0,
                   help="runtime state entries counted by the caller (crun list etc.)")
    l.add_argument("--out", required=True)

    c = sub.add_parser("cpubusy")
    c.add_argument("--wait", type=float, default=0.0)
    c.add_argument("--below", type=float, default=15.0)

    t = sub.add_parser("table")
    t.add_argument("--ref", default="crun")
    t.add_argument("files", nargs="*")

    a = ap.parse_args()
    return {"drive": cmd_drive, "probe": cmd_probe, "na": cmd_na,
            "leftovers": cmd_leftovers, "table": cmd_table, "cpubusy": cmd_cpubusy}[a.sub](a)


if __name__ == "__main__":
    sys.exit(main())
