#!/usr/bin/env python3
"""Drivers for bench/init.sh: rss, reap, siglat, table.

Each init is given as  --init 'NAME=PREFIX'  where PREFIX is the
space-separated (or a JSON list) argv that goes before the child command (e.g.
'tini-static=/usr/bin/tini-static --', 'dumb-init=/usr/bin/dumb-init',
'none=' for no init at all). Results are written as JSON to --out.
"""
import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.environ.get("CHILD_PYTHON", "/usr/bin/python3")
PYFLAGS = ["-I", "-S"]
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]


def parse_inits(specs):
    out = []
    for s in specs:
        name, _, prefix = s.partition("=")
        # a JSON list keeps words with spaces (e.g. the sh -c control)
        out.append((name, json.loads(prefix) if prefix.startswith("[") else prefix.split()))
    return out


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        return s[s.rindex(")") + 2]
    except OSError:
        return None


def poll_until(fn, timeout, step=0.001):
    dl = time.monotonic() + timeout
    while time.monotonic() < dl:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return None


def kill_tree(p, init_pid=None):
    for pid in (init_pid, p.pid):
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def pctl(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# --------------------------------------------------------------------- rss
def read_mem(pid):
    m = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                m[k + "_kB"] = int(v.split()[0])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            priv = 0
            for line in f:
                k, _, v = line.partition(":")
                if k == "Pss":
                    m["Pss_kB"] = int(v.split()[0])
                elif k in ("Private_Clean", "Private_Dirty"):
                    priv += int(v.split()[0])
            m["Private_kB"] = priv
    except OSError:
        pass
    return m


def rss_once(prefix):
    argv = UNSHARE + prefix + ["sleep", "1000"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    init_pid = None
    try:
        init_pid = poll_until(lambda: (children(p.pid) or [None])[0], 5)
        if not init_pid:
            return {"error": "no child of unshare"}
        # the init is supervising once it has a child that has exec'd sleep;
        # an init that exec'd the command itself becomes 'sleep' (no child)
        def ready():
            kids = [k for k in children(init_pid) if comm(k) == "sleep"]
            if kids:
                return ("supervising", kids[0])
            if comm(init_pid) == "sleep" and not children(init_pid):
                return None
            return None
        r = poll_until(ready, 5)
        if r is None:
            if comm(init_pid) == "sleep":
                return {"error": "init exec'd the command (no supervisor)",
                        "comm": "sleep", **read_mem(init_pid)}
            return {"error": "no sleep child within 5 s", "comm": comm(init_pid)}
        m = read_mem(init_pid)
        m["comm"] = comm(init_pid)
        m["init_host_pid"] = init_pid
        m["child_host_pid"] = r[1]
        return m
    finally:
        kill_tree(p, init_pid)


def cmd_rss(a):
    res = {}
    for name, prefix in parse_inits(a.init):
        runs = [rss_once(prefix) for _ in range(a.reps)]
        ok = [r for r in runs if "error" not in r]
        agg = {"runs": runs}
        for k in ("VmRSS_kB", "Pss_kB", "Private_kB", "VmHWM_kB", "RssAnon_kB", "RssFile_kB"):
            vals = [r[k] for r in ok if k in r]
            agg[k] = statistics.median(vals) if vals else None
        agg["error"] = runs[0].get("error") if not ok else None
        res[name] = agg
        print(f"  {name:28s} VmRSS {agg['VmRSS_kB']} kB  Pss {agg['Pss_kB']} kB"
              f"  Private {agg['Private_kB']} kB  RssAnon {agg['RssAnon_kB']} kB  RssFile {agg['RssFile_kB']} kB"
              + (f"  ERROR: {agg['error']}" if agg["error"] else ""), flush=True)
    json.dump(res, open(a.out, "w"), indent=1)


# -------------------------------------------------------------------- reap
def readline(p, timeout):
    r, _, _ = select.select([p.stdout], [], [], timeout)
    if not r:
        raise TimeoutError("child did not answer")
    return p.stdout.readline().decode()


def reap_once(name, prefix, n, deadline, stop):
    argv = UNSHARE + prefix + [PY] + PYFLAGS + [
        os.path.join(HERE, "orphans.py"), str(n), str(deadline)]
    if stop:
        argv.append("--sync")
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    init_pid = poll_until(lambda: (children(p.pid) or [None])[0], 5)
    try:
        t_cont = None
        if stop:
            first = readline(p, 120).split()
            if not first or first[0] != "forked":
                return {"error": f"protocol: {first!r}"}
            # if orphans.py is PID 1 itself (no init, or an init that exec'd
            # it), there is nobody else to stop
            stopped = first[1] != "1"
            if stopped:
                os.kill(init_pid, signal.SIGSTOP)
                poll_until(lambda: state(init_pid) == "T", 5)
            p.stdin.write(b"go\n"); p.stdin.flush()
            line = readline(p, 60)
            allz = int(line.split()[1])
            t_cont = now_ns()
            if stopped:
                os.kill(init_pid, signal.SIGCONT)
            p.stdin.write(b"go\n"); p.stdin.flush()
        line = readline(p, 120 + deadline)
        r = json.loads(line)
        if stop:
            r["zombies_when_continued"] = allz
            r["reap_ms"] = None if r["t_end_ns"] is None else (r["t_end_ns"] - t_cont) / 1e6
        r["mode"] = ("stop" if stopped else "sync") if stop else "free"
        p.stdin.close()
        p.wait(timeout=30)
        return r
    except Exception as e:  # noqa: BLE001
        return {"error": repr(e)}
    finally:
        kill_tree(p, init_pid)


def cmd_reap(a):
    res = {}
    for name, prefix in parse_inits(a.init):
        stop = a.stop
        runs = []
        for _ in range(a.reps):
            runs.append(reap_once(name, prefix, a.n, a.deadline, stop))
            if runs[-1].get("timed_out"):
                break  # a non-reaper: once is enough
        ok = [r for r in runs if "error" not in r]
        times = [r["reap_ms"] for r in ok if r.get("reap_ms") is not None]
        agg = {
            "runs": runs,
            "mode": ",".join(sorted({r.get("mode", "?") for r in runs})),
            "reap_ms_median": statistics.median(times) if times else None,
            "final_zombies_max": max((r["final_zombies"] for r in ok), default=None),
            "fork_phase_ms_median": statistics.median([r["fork_phase_ms"] for r in ok]) if ok else None,
            "error": runs[0].get("error") if not ok else None,
        }
        res[name] = agg
        t = agg["reap_ms_median"]
        print(f"  {name:28s} reap {('%.1f ms' % t) if t is not None else 'NEVER (timed out)':>18s}"
              f"  final zombies {agg['final_zombies_max']}  ({agg['mode']}, runs {[None if r.get('reap_ms') is None else round(r['reap_ms'], 1) for r in ok]})"
              + (f"  ERROR: {agg['error']}" if agg["error"] else ""), flush=True)
    json.dump(res, open(a.out, "w"), indent=1)


# ------------------------------------------------------------------ siglat
def siglat_one(prefix, trials, gap):
    argv = prefix + [PY] + PYFLAGS + [os.path.join(HERE, "sigrecv.py")]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    target = p.pid
    lat = []
    try:
        first = readline(p, 10)
        if not first.startswith("ready"):
            return {"error": f"unexpected {first!r}"}
        child = int(first.split()[1])
        time.sleep(0.05)  # let the init settle into its wait loop (untimed)
        for _ in range(trials):
            t_send = now_ns()
            os.kill(target, signal.SIGUSR1)
            line = readline(p, 5)
            lat.append((int(line) - t_send) / 1e3)
            time.sleep(gap)
        return {"lat_us": lat, "init_pid": target, "child_pid": child,
                "direct": target == child}
    except Exception as e:  # noqa: BLE001
        return {"error": repr(e), "lat_us": lat}
    finally:
        try:
            p.terminate()
            p.wait(timeout=3)
        except Exception:  # noqa: BLE001
            kill_tree(p)


def cmd_siglat(a):
    res = {}
    inits = parse_inits(a.init)
    # interleave rounds so that drift hits every init alike
    per = {name: [] for name, _ in inits}
    errs = {}
    rounds = a.rounds
    for _ in range(rounds):
        for name, prefix in inits:
            r = siglat_one(prefix, a.trials // rounds, a.gap)
            per[name] += r.get("lat_us", [])
            if "error" in r:
                errs[name] = r["error"]
    base = statistics.median(per["baseline"]) if per.get("baseline") else None
    for name, _ in inits:
        xs = per[name]
        agg = {"lat_us": xs, "n": len(xs),
               "median_us": statistics.median(xs) if xs else None,
               "p95_us": pctl(xs, 0.95), "min_us": min(xs, default=None),
               "error": errs.get(name)}
        agg["minus_baseline_us"] = (agg["median_us"] - base) if (base is not None and xs) else None
        res[name] = agg
        if xs:
            print(f"  {name:28s} n={len(xs):3d} median {agg['median_us']:8.1f} us  p95 {agg['p95_us']:8.1f} us"
                  f"  min {agg['min_us']:7.1f} us  vs baseline {agg['minus_baseline_us']:+8.1f} us"
                  + (f"  ERROR: {agg['error']}" if agg["error"] else ""), flush=True)
        else:
            print(f"  {name:28s} ERROR: {agg['error']}", flush=True)
    json.dump(res, open(a.out, "w"), indent=1)


# ------------------------------------------------------------------- merge
def cmd_merge(a):
    """Merge hyperfine JSON exports of interleaved rounds into one."""
    times, order = {}, []
    for path in a.parts:
        for r in load(path).get("results", []):
            if r["command"] not in times:
                order.append(r["command"])
                times[r["command"]] = []
            times[r["command"]] += r["times"]
    res = []
    for c in order:
        t = times[c]
        res.append({"command": c, "median": statistics.median(t), "mean": statistics.fmean(t),
                    "stddev": statistics.stdev(t) if len(t) > 1 else 0.0, "min": min(t),
                    "max": max(t), "runs": len(t), "times": t})
    json.dump({"results": res, "rounds": a.parts}, open(a.out, "w"), indent=1)
    ref = res[0]["median"] if res else None
    print(f"  {'command':28s} {'median':>10s} {'mean ± sd':>20s} {'min':>9s} {'p95':>9s}  runs")
    for r in res:
        print(f"  {r['command']:28s} {r['median']*1e3:7.3f} ms {r['mean']*1e3:8.3f} ± {r['stddev']*1e3:6.3f} ms"
              f" {r['min']*1e3:6.3f} ms {pctl(r['times'], .95)*1e3:6.3f} ms  {r['runs']}", flush=True)


# ------------------------------------------------------------------- table
def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return {}


def hf_medians(path):
    d = load(path)
    out = {}
    for r in d.get("results", []):
        out[r["command"]] = r["median"] * 1e3  # ms
    return out


def cmd_table(a):
    names = a.names
    ref = a.ref
    st = hf_medians(a.startup)
    st1 = hf_medians(a.startup_pid1)
    rss = load(a.rss)
    reap = load(a.reap)
    sig = load(a.siglat)

    def ratio(v, r):
        return f"{v / r:.2f}x" if (v is not None and r) else "-"

    def fmt(v, f):
        return f % v if v is not None else "-"

    rows = []
    for n in names:
        s = st.get(n)
        s1 = st1.get(n)
        m = (rss.get(n) or {}).get("VmRSS_kB")
        pss = (rss.get(n) or {}).get("Pss_kB")
        anon = (rss.get(n) or {}).get("RssAnon_kB")
        if pss is not None:
            pss = f"{pss:.0f}, {anon:.0f}" if anon is not None else f"{pss:.0f}"
        rp = reap.get(n) or {}
        sl = (sig.get(n) or {}).get("median_us")
        sl95 = (sig.get(n) or {}).get("p95_us")
        rows.append((n, s, s1, m, pss, rp.get("reap_ms_median"), rp.get("final_zombies_max"), sl, sl95,
                     (rss.get(n) or {}).get("error"), rp.get("error")))
    R = {k: None for k in ("s", "s1", "m", "rp", "sl")}
    for r in rows:
        if r[0] == ref:
            R = {"s": r[1], "s1": r[2], "m": r[3], "rp": r[5], "sl": r[7]}
    hdr = (f"| init | start-up median | ×tini-s | start-up as PID 1 | ×tini-s | VmRSS (Pss, anon) | ×tini-s "
           f"| reap {a.n} orphans | ×tini-s | zombies left | SIGUSR1 latency median (p95) | ×tini-s |")
    lines = [hdr, "|" + "---|" * 12]
    for (n, s, s1, m, pss, rp, z, sl, sl95, e1, e2) in rows:
        lines.append(
            f"| {n} | {fmt(s, '%.3f ms')} | {ratio(s, R['s'])} | {fmt(s1, '%.3f ms')} | {ratio(s1, R['s1'])} "
            f"| {fmt(m, '%d kB')}{' (' + pss + ')' if pss is not None else ''} | {ratio(m, R['m'])} "
            f"| {fmt(rp, '%.1f ms') if rp is not None else ('never' if z else '-')} | {ratio(rp, R['rp'])} "
            f"| {fmt(z, '%d')} | {fmt(sl, '%.0f us')}{' (' + fmt(sl95, '%.0f') + ')' if sl95 is not None else ''} "
            f"| {ratio(sl, R['sl'])} |")
    print("\n".join(lines))
    if a.md:
        open(a.md, "w").write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for c in ("rss", "reap", "siglat"):
        s = sub.add_parser(c)
        s.add_argument("--init", action="append", default=[])
        s.add_argument("--out", required=True)
        s.add_argument("--reps", type=int, default=3)
        if c == "reap":
            s.add_argument("--n", type=int, default=2000)
            s.add_argument("--deadline", type=float, default=5.0)
            s.add_argument("--no-stop", dest="stop", action="store_false")
        if c == "siglat":
            s.add_argument("--trials", type=int, default=100)
            s.add_argument("--rounds", type=int, default=4)
            s.add_argument("--gap", type=float, default=0.005)
    mg = sub.add_parser("merge")
    mg.add_argument("--out", required=True)
    mg.add_argument("parts", nargs="+")
    t = sub.add_parser("table")
    t.add_argument("--names", nargs="+", required=True)
    t.add_argument("--ref", default="tini-static")
    t.add_argument("--n", default="2000")
    for k in ("startup", "startup-pid1", "rss", "reap", "siglat", "md"):
        t.add_argument("--" + k)
    a = ap.parse_args()
    {"rss": cmd_rss, "reap": cmd_reap, "siglat": cmd_siglat, "table": cmd_table,
     "merge": cmd_merge}[a.cmd](a)


if __name__ == "__main__":
    main()
