#!/usr/bin/env python3
"""Helpers for bench/run (not meant to be run by hand).

    lib.py stamp STRIDE DEV...        write a 4 KiB marker every STRIDE bytes
                                      (and in the last 4 KiB) of each DEV, with
                                      O_DIRECT, so that a copy or zero run that
                                      skips work leaves a difference behind
    lib.py zcheck LENGTH DEV...       check that the first LENGTH bytes of each
                                      DEV read back as zeros (O_DIRECT reads)
    lib.py fcmp LENGTH SRC DEV...     compare SRC with each DEV (O_DIRECT
                                      reads; the sweep's fast check)
    lib.py fiotime JSON               fio's own runtime: the longest job's
                                      job_runtime, in seconds
    lib.py helpdefaults               read `kcopy --help` on stdin, print the
                                      default sub-job size and sub-jobs
    lib.py helpdefault OPTION         read `kcopy --help` on stdin, print the
                                      default of --OPTION (nothing if none)
    lib.py sparsegen SIZE PCT SEED SPARSE FULL
                                      write the sparse section's sources: PCT%
                                      of SIZE random data in extents of 64K-4M
                                      at random 64K-aligned offsets (seeded),
                                      the rest holes in SPARSE and written
                                      zeros in FULL; checks the allocation and
                                      prints "EXTENTS DATA_BYTES"
    lib.py kcjson JSON                kcopy's --json report: print the first
                                      job's bytes_data, bytes_zeroed,
                                      bytes_skipped and zero_method
    lib.py report RAW OUT META [NOTES]
                                      the bench table and targets; NOTES has
                                      "test<TAB>text" lines printed under the
                                      test's rows
    lib.py sweep RAW OUT META         the sweep table and best settings

RAW is a tab-separated file, one timed run a line:
    test key tool wall user sys rss_kib bytes extra
"""

import bisect
import json
import mmap
import os
import random
import re
import statistics
import sys

CHUNK = 4 << 20
STAMP = 4096


def die(msg):
    print("lib.py: " + msg, file=sys.stderr)
    sys.exit(2)


def dev_size(fd):
    return os.lseek(fd, 0, os.SEEK_END)


def cmd_stamp(args):
    stride = int(args[0])
    buf = mmap.mmap(-1, STAMP)
    for dev in args[1:]:
        fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
        try:
            size = dev_size(fd)
            offs = list(range(0, size - STAMP + 1, stride))
            if size >= STAMP:
                offs.append(size - STAMP)
            for off in offs:
                pat = ("kcopy-bench stamp %s @%d " % (dev, off)).encode()
                buf.seek(0)
                buf.write((pat * (STAMP // len(pat) + 1))[:STAMP])
                if os.pwritev(fd, [buf], off) != STAMP:
                    die("short stamp write on %s" % dev)
        finally:
            os.close(fd)


def read_exact(fd, buf, off, n):
    view = memoryview(buf)[:n]
    got = os.preadv(fd, [view], off)
    if got != n:
        die("short read at %d (%d of %d)" % (off, got, n))
    return buf[:n]


def cmd_zcheck(args):
    length = int(args[0])
    buf = mmap.mmap(-1, CHUNK)
    zero = bytes(CHUNK)
    bad = 0
    for dev in args[1:]:
        fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
        try:
            off = 0
            while off < length:
                n = min(CHUNK, length - off)
                if read_exact(fd, buf, off, n) != zero[:n]:
                    print("zcheck: %s is not zero in [%d, %d)" % (dev, off, off + n),
                          file=sys.stderr)
                    bad = 1
                    break
                off += n
        finally:
            os.close(fd)
    sys.exit(bad)


def cmd_fcmp(args):
    length = int(args[0])
    src = args[1]
    dsts = args[2:]
    sbuf = mmap.mmap(-1, CHUNK)
    dbuf = mmap.mmap(-1, CHUNK)
    sfd = os.open(src, os.O_RDONLY | os.O_DIRECT)
    dfds = [os.open(d, os.O_RDONLY | os.O_DIRECT) for d in dsts]
    bad = set()
    off = 0
    while off < length:
        n = min(CHUNK, length - off)
        s = read_exact(sfd, sbuf, off, n)
        for i, fd in enumerate(dfds):
            if i in bad:
                continue
            if read_exact(fd, dbuf, off, n) != s:
                print("fcmp: %s differs from %s in [%d, %d)" % (dsts[i], src, off, off + n),
                      file=sys.stderr)
                bad.add(i)
        off += n
    sys.exit(1 if bad else 0)


def cmd_fiotime(args):
    with open(args[0]) as f:
        text = f.read()
    # fio may print notes before the JSON object.
    text = text[text.index("{"):]
    d = json.loads(text)
    best = 0
    for j in d["jobs"]:
        if j.get("error"):
            die("fio job %s failed: error %s" % (j.get("jobname"), j["error"]))
        rt = j.get("job_runtime")
        if rt is None:
            rt = max(j["read"]["runtime"], j["write"]["runtime"])
        best = max(best, rt)
    print("%.3f" % (best / 1000.0))


def cmd_helpdefaults(args):
    text = sys.stdin.read()
    m1 = re.search(r"--sub-job-size=\S+\s+.*?\(default\s+([0-9]+[KMG]?)\)", text, re.S)
    m2 = re.search(r"--sub-jobs=\S+\s+.*?\(default\s+([0-9]+)\)", text, re.S)
    print(m1.group(1) if m1 else "512K", m2.group(1) if m2 else "8")


def cmd_helpdefault(args):
    text = sys.stdin.read()
    m = re.search(r"--%s(?:=\S+)?\s+.*?\(default:?\s+([^)\s]+)\)" % re.escape(args[0]),
                  text, re.S)
    if m:
        print(m.group(1))


def sparse_layout(size, pct, seed):
    """Sorted, disjoint (offset, length) data extents: pct% of size in
    64K-aligned extents of 64K-4M at random 64K-aligned offsets."""
    align = 64 << 10
    rnd = random.Random(seed)
    target = size * pct // 100 // align * align
    starts, exts = [], []
    total = tries = 0
    while total < target:
        tries += 1
        if tries > 1000000:
            die("sparsegen: cannot place %d%% of %d bytes" % (pct, size))
        n = min(rnd.randint(1, 64) * align, target - total)
        if n > size:
            die("sparsegen: size %d too small" % size)
        off = rnd.randrange(0, (size - n) // align + 1) * align
        i = bisect.bisect_right(starts, off)
        # Disjoint and not touching, so every extent is its own data run.
        if i > 0 and exts[i - 1][0] + exts[i - 1][1] >= off:
            continue
        if i < len(exts) and exts[i][0] <= off + n:
            continue
        starts.insert(i, off)
        exts.insert(i, (off, n))
        total += n
    return exts, total


def write_all(fd, data, off):
    view = memoryview(data)
    while len(view):
        n = os.pwrite(fd, view, off)
        if n <= 0:
            die("short write at %d" % off)
        view = view[n:]
        off += n


def cmd_sparsegen(args):
    size, pct, seed = int(args[0]), int(args[1]), int(args[2])
    sparse, full = args[3], args[4]
    if not 1 <= pct <= 50:
        die("sparsegen: PCT must be 1 to 50")
    exts, total = sparse_layout(size, pct, seed)
    rnd = random.Random(seed + 1)
    zero = bytes(CHUNK)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    sfd = os.open(sparse, flags, 0o644)
    ffd = os.open(full, flags, 0o644)
    try:
        os.ftruncate(sfd, size)
        pos = 0
        for off, n in exts + [(size, 0)]:
            while pos < off:
                z = min(CHUNK, off - pos)
                write_all(ffd, zero[:z], pos)
                pos += z
            if n:
                data = rnd.randbytes(n)
                write_all(sfd, data, off)
                write_all(ffd, data, off)
                pos = off + n
        os.fsync(sfd)
        os.fsync(ffd)
        # FULL is allocated: no hole anywhere, every block on disk.
        if os.lseek(ffd, 0, os.SEEK_HOLE) != size or os.fstat(ffd).st_blocks * 512 < size:
            die("sparsegen: %s is not fully allocated" % full)
        # SPARSE holds its data only.
        got = os.fstat(sfd).st_blocks * 512
        if got < total or got > total + total // 10 + (1 << 20):
            die("sparsegen: %s has %d bytes allocated, expected about %d" % (sparse, got, total))
        data_runs = 0
        off = 0
        while True:
            try:
                d = os.lseek(sfd, off, os.SEEK_DATA)
            except OSError:
                break
            off = os.lseek(sfd, d, os.SEEK_HOLE)
            data_runs += 1
        if data_runs != len(exts):
            die("sparsegen: %s has %d data runs, expected %d" % (sparse, data_runs, len(exts)))
    finally:
        os.close(sfd)
        os.close(ffd)
    print(len(exts), total)


def cmd_kcjson(args):
    with open(args[0]) as f:
        d = json.load(f)
    j = d["jobs"][0]
    print(j["bytes_data"], j["bytes_zeroed"], j["bytes_skipped"], j.get("zero_method") or "none")


def cmd_kcseconds(args):
    """kcopy's own run time from its JSON report: the I/O and the final
    flush, without process start-up and the aio teardown at exit."""
    with open(args[0]) as f:
        print("%.6f" % json.load(f)["seconds"])


# --- reports ---------------------------------------------------------------

def load_raw(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            p = line.split("\t")
            rows.append(dict(test=p[0], key=p[1], tool=p[2], wall=float(p[3]),
                             user=float(p[4]), sys=float(p[5]), rss=int(p[6]),
                             bytes=int(p[7]), extra=p[8] if len(p) > 8 else ""))
    return rows


def group(rows):
    """Ordered {test: {key: summary}}."""
    out = {}
    for r in rows:
        t = out.setdefault(r["test"], {})
        g = t.setdefault(r["key"], dict(key=r["key"], tool=r["tool"], walls=[], users=[],
                                        syss=[], rsss=[], bytes=r["bytes"],
                                        extra=r["extra"]))
        g["tool"] = r["tool"]
        g["walls"].append(r["wall"])
        g["users"].append(r["user"])
        g["syss"].append(r["sys"])
        g["rsss"].append(r["rss"])
    for t in out.values():
        for g in t.values():
            g["med"] = statistics.median(g["walls"])
            g["min"] = min(g["walls"])
            g["max"] = max(g["walls"])
            g["user"] = statistics.median(g["users"])
            g["sys"] = statistics.median(g["syss"])
            g["cpu"] = statistics.median([u + s for u, s in zip(g["users"], g["syss"])])
            g["rss"] = max(g["rsss"])
            g["n"] = len(g["walls"])
    return out


def kind(key):
    if key.startswith("kcopy"):
        return "kcopy"
    if key.startswith("fio"):
        return "fio"
    return "peer"


def fmt_table(header, rows, right):
    """A row is a list of cells, or a string: a note line under the rows
    above it, starting in the second column."""
    widths = [len(h) for h in header]
    for r in rows:
        if isinstance(r, str):
            continue
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    sep = "  "

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            out.append(c.rjust(widths[i]) if right[i] else c.ljust(widths[i]))
        return sep.join(out).rstrip()

    lines = [line(header), sep.join("-" * w for w in widths)]
    prev = None
    for r in rows:
        if isinstance(r, str):
            lines.append((" " * (widths[0] + len(sep)) + r).rstrip())
            continue
        if prev is not None and r[0] and r[0] != prev:
            lines.append("")
        if r[0]:
            prev = r[0]
        lines.append(line(r))
    return "\n".join(lines)


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def fr(x):
    return "-" if x is None else "%.2f" % x


def read_meta(path):
    with open(path) as f:
        return f.read().rstrip("\n")


def read_notes(path):
    notes = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if "\t" in line:
                    test, text = line.split("\t", 1)
                    notes.setdefault(test, []).append(text)
    return notes


def cmd_report(args):
    raw, outpath, metapath = args[:3]
    notes = read_notes(args[3] if len(args) > 3 else None)
    tests = group(load_raw(raw))
    header = ["test", "tool", "median s", "min–max s", "MB/s", "user s", "sys s",
              "peak RSS MiB", "vs fio", "vs best peer"]
    right = [False, False, True, True, True, True, True, True, True, True]
    # With NBD rows, a column for the ratio to nbdcopy, their targets' peer.
    nbdcol = any(t.startswith("nbd ") for t in tests)
    if nbdcol:
        header.append("vs nbdcopy")
        right.append(True)
    table = []
    info = {}
    for test, tools in tests.items():
        fio = next((g for g in tools.values() if kind(g["key"]) == "fio"), None)
        peers = [g for g in tools.values() if kind(g["key"]) == "peer"]
        best = min(peers, key=lambda g: g["med"]) if peers else None
        nbdcopy = tools.get("nbdcopy")
        info[test] = dict(tools=tools, fio=fio, best=best)
        first = True
        for g in tools.values():
            mbs = g["bytes"] / g["med"] / 1e6 if g["med"] > 0 else float("inf")
            row = [test if first else "", g["tool"] + ("" if g["n"] > 1 else " (1 run)"),
                   "%.3f" % g["med"], "%.3f–%.3f" % (g["min"], g["max"]),
                   "%.0f" % mbs, "%.2f" % g["user"], "%.2f" % g["sys"],
                   "%.1f" % (g["rss"] / 1024.0),
                   fr(ratio(g["med"], fio["med"] if fio else None)),
                   fr(ratio(g["med"], best["med"] if best else None))]
            if nbdcol:
                row.append(fr(ratio(g["med"], nbdcopy["med"] if nbdcopy else None)))
            table.append(row)
            first = False
        for text in notes.get(test, []):
            table.append(text)

    targets = []

    def target(name, value, limit, detail):
        if value is None:
            targets.append(("SKIP", name, "n/a (" + detail + ")"))
            return
        ok = value <= limit + 1e-9
        targets.append(("PASS" if ok else "FAIL", name,
                        "%.2f (limit %.2f) %s" % (value, limit, detail)))

    def med(test, key):
        g = info.get(test, {}).get("tools", {}).get(key)
        return g["med"] if g else None

    for test, it in info.items():
        k = next((g for g in it["tools"].values()
                  if kind(g["key"]) == "kcopy" and not g["extra"]), None)
        m = re.match(r"copy 1->(\d+)$", test)
        if m and k:
            n = int(m.group(1))
            fio = it["fio"]["med"] if it["fio"] else None
            if n == 1:
                b = it["best"]
                target("%s: kcopy ≤ 0.9× best peer" % test, ratio(k["med"], b["med"] if b else None),
                       0.9, "vs %s" % (b["tool"] if b else "-"))
                target("%s: kcopy ≤ 1.05× fio" % test, ratio(k["med"], fio), 1.05, "")
            else:
                target("%s: kcopy ≤ 1.15× fio" % test, ratio(k["med"], fio), 1.15, "")
                target("%s: kcopy ≤ 0.35× dcfldd" % test, ratio(k["med"], med(test, "dcfldd")),
                       0.35, "")
            ddkey = "dd1m" if n == 1 else "ddN"
            dd = it["tools"].get(ddkey)
            gib = k["bytes"] / float(1 << 30)
            kc = k["cpu"] / gib
            if dd:
                dc = dd["cpu"] / gib
                if dc > 0:
                    target("%s: kcopy CPU/GiB ≤ 1.5× %s" % (test, dd["tool"]), kc / dc, 1.5,
                           "(%.3f vs %.3f s/GiB)" % (kc, dc))
                else:
                    targets.append(("PASS" if kc == 0 else "SKIP",
                                    "%s: kcopy CPU/GiB ≤ 1.5× %s" % (test, dd["tool"]),
                                    "%.3f vs %.3f s/GiB (below time's 10 ms resolution)"
                                    % (kc, dc)))
        m = re.match(r"nbd \S+ 1->(\d+)$", test)
        if m and k:
            n = int(m.group(1))
            nc = it["tools"].get("nbdcopy")
            if n == 1:
                target("%s: kcopy ≤ 0.9× nbdcopy" % test,
                       ratio(k["med"], nc["med"] if nc else None), 0.9, "")
            else:
                target("%s: kcopy ≤ 0.35× %d× nbdcopy" % (test, n),
                       ratio(k["med"], nc["med"] if nc else None), 0.35, "")
        # kcopy --connections=N rows (extra conn=N): the fastest, and each
        # against it.
        conns = [g for g in it["tools"].values() if g["extra"].startswith("conn=")]
        if conns:
            b = min(conns, key=lambda g: g["med"])
            targets.append(("INFO", "%s: fastest --connections=%s" % (test, b["extra"][5:]),
                            "(%.3f s); median over the fastest: %s" % (
                                b["med"], ", ".join("%s: %.2f" % (g["extra"][5:], g["med"] / b["med"])
                                                   for g in conns))))
        if test.startswith("sparse ") and k:
            b = it["best"]
            target("%s: kcopy ≤ 0.9× best peer" % test, ratio(k["med"], b["med"] if b else None),
                   0.9, "vs %s" % (b["tool"] if b else "-"))
        # Each --io backend beside the default one (keys KEY@IO).
        for g in it["tools"].values():
            if kind(g["key"]) != "kcopy" or "@" not in g["key"]:
                continue
            base, io = g["key"].split("@", 1)
            d = it["tools"].get(base)
            if d and d["med"] > 0:
                targets.append(("INFO", "%s: %s / %s" % (test, g["tool"], d["tool"]),
                                "%.2f (median wall; below 1: --io=%s is faster)"
                                % (g["med"] / d["med"], io)))
        kio = it["tools"].get("kcopy-io")
        fio = it["fio"]["med"] if it["fio"] else None
        if kio and fio:
            targets.append(("INFO", "%s: kcopy's I/O phase / fio's runtime" % test,
                            "%.2f (like for like: neither counts start-up or exit)"
                            % ratio(kio["med"], fio)))
        if test.startswith("zero") and test.endswith(" no offload") and k:
            target("%s: kcopy ≤ 1.1× fio write" % test, ratio(k["med"], fio), 1.1, "")
        elif test.startswith("zero") and test.endswith(" offload") and k:
            target("%s: kcopy ≤ 2× blkdiscard --zeroout" % test,
                   ratio(k["med"], med(test, "blkdiscard")), 2.0, "")
    for test, it in info.items():
        for g in it["tools"].values():
            if kind(g["key"]) == "kcopy" and g["extra"].startswith("mem="):
                bound = int(g["extra"][4:])
                lim = bound + (2 << 20)
                ok = g["rss"] * 1024 <= lim
                targets.append(("PASS" if ok else "FAIL",
                                "%s: %s RSS ≤ memory + 2 MiB" % (test, g["tool"]),
                                "%.2f MiB (limit %.2f MiB)" % (g["rss"] / 1024.0, lim / 1048576.0)))

    out = [read_meta(metapath), "", fmt_table(header, table, right), "",
           "targets:"]
    w = max([len(t[1]) for t in targets] + [0])
    for st, name, detail in targets:
        out.append("  %-4s  %s  %s" % (st, name.ljust(w), detail))
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    with open(outpath, "w") as f:
        f.write(text)


def cmd_sweep(args):
    raw, outpath, metapath = args
    tests = group(load_raw(raw))
    header = ["test", "sub-job-size", "sub-jobs", "memory", "median s", "min–max s",
              "MB/s", "user s", "sys s", "peak RSS MiB", "vs best"]
    right = [False, True, True, True, True, True, True, True, True, True, True]
    table = []
    bests = []
    score = {}
    for test, tools in tests.items():
        best = min(tools.values(), key=lambda g: g["med"])
        bests.append((test, best))
        first = True
        for g in tools.values():
            size, jobs, mem = g["extra"].split(",")
            r = g["med"] / best["med"]
            score.setdefault((size, jobs), []).append(r)
            table.append([test if first else "", size, jobs, mem, "%.3f" % g["med"],
                          "%.3f–%.3f" % (g["min"], g["max"]),
                          "%.0f" % (g["bytes"] / g["med"] / 1e6), "%.2f" % g["user"],
                          "%.2f" % g["sys"], "%.1f" % (g["rss"] / 1024.0),
                          "%.2f%s" % (r, " *" if g is best else "")])
            first = False
    out = [read_meta(metapath), "", fmt_table(header, table, right), "", "best:"]
    for test, g in bests:
        size, jobs, mem = g["extra"].split(",")
        out.append("  %-10s --sub-job-size=%s --sub-jobs=%s (%.3f s, %.0f MB/s)"
                   % (test, size, jobs, g["med"], g["bytes"] / g["med"] / 1e6))
    ntests = len(tests)
    full = {k: v for k, v in score.items() if len(v) == ntests}
    if full and ntests > 1:
        def gmean(v):
            p = 1.0
            for x in v:
                p *= x
            return p ** (1.0 / len(v))
        (size, jobs), v = min(full.items(), key=lambda kv: gmean(kv[1]))
        out.append("  %-10s --sub-job-size=%s --sub-jobs=%s (geometric mean %.2f× the "
                   "per-test best)" % ("overall", size, jobs, gmean(v)))
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    with open(outpath, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) < 2:
        die("usage: lib.py COMMAND ARGS...")
    cmds = dict(stamp=cmd_stamp, zcheck=cmd_zcheck, fcmp=cmd_fcmp, fiotime=cmd_fiotime,
                helpdefaults=cmd_helpdefaults, helpdefault=cmd_helpdefault, sparsegen=cmd_sparsegen, kcjson=cmd_kcjson,
                kcseconds=cmd_kcseconds,
                report=cmd_report, sweep=cmd_sweep)
    f = cmds.get(sys.argv[1])
    if not f:
        die("unknown command " + sys.argv[1])
    f(sys.argv[2:])


if __name__ == "__main__":
    main()
