#!/usr/bin/env python3
"""Turns the benchmarks' rows (BENCH_OUT/rows.jsonl) into report.md and
report.json, and draws the plots with gnuplot (PNG): the balloon's target,
actual size and host RSS during an inflate and deflate, preallocation
throughput by thread count, and the autopilot scenario over time.

Each row holds every run of memvm and of its peer (QEMU, or a limit measured
in the same run); the report gives median and spread (min-max) and the
ratio of the medians, always as "how many times better memvm is" (above 1:
memvm is better; against a limit it cannot exceed about 1)."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

out = sys.argv[1] if len(sys.argv) > 1 else "build/bench"


def load_rows():
    rows = []
    try:
        with open(os.path.join(out, "rows.jsonl")) as f:
            for line in f:
                if line.strip():
                    rows.append(json.loads(line))
    except FileNotFoundError:
        pass
    return rows


def summary(vals):
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "runs": len(vals)}


def fmt(v, unit):
    if v is None:
        return "-"
    if unit in ("s",):
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"


def cell(s, unit):
    if not s:
        return "not run"
    if s["runs"] == 1:
        return f"{fmt(s['median'], unit)} {unit}"
    return f"{fmt(s['median'], unit)} {unit} ({fmt(s['min'], unit)}-{fmt(s['max'], unit)}, {s['runs']} runs)"


def ratio(row, m, p):
    if not m or not p or m["median"] == 0 or p["median"] == 0:
        return None
    if row["better"] == "lower":
        return p["median"] / m["median"]
    return m["median"] / p["median"]


def ratio_text(row, r):
    if r is None:
        return "-"
    if row["peer"] == "limit":
        return f"memvm at {r:.2f}x of the limit"
    return f"memvm {r:.2f}x as good" if abs(r - 1) < 0.005 else (
        f"memvm {r:.2f}x better" if r > 1 else f"memvm {1 / r:.2f}x worse")


def gnuplot(script):
    if not shutil.which("gnuplot"):
        return False
    return subprocess.run(["gnuplot"], input=script, text=True).returncode == 0


def plots():
    made = []
    bt = os.path.join(out, "balloon-timeline.first")
    if os.path.exists(bt):
        for vmm in ("memvm", "qemu"):
            rows = [l.split() for l in open(bt) if l.startswith(vmm + " ")]
            with open(os.path.join(out, f"balloon-{vmm}.dat"), "w") as f:
                for r in rows:
                    f.write(" ".join(r[1:]) + "\n")
        png = os.path.join(out, "balloon.png")
        if gnuplot(f"""set terminal pngcairo size 1000,600
set output "{png}"
set title "64 MiB inflate and deflate of a preallocated 256 MiB tiny guest"
set xlabel "seconds"; set ylabel "MiB"; set key outside bottom center horizontal
set datafile missing "-"
plot "{out}/balloon-memvm.dat" u 1:2 w steps lw 2 t "memvm target", \\
     "" u 1:3 w lp pt 7 ps 0.4 t "memvm actual", "" u 1:4 w l lw 2 t "memvm RSS", \\
     "{out}/balloon-qemu.dat" u 1:2 w steps dt 2 t "QEMU target", \\
     "" u 1:3 w lp pt 6 ps 0.4 dt 2 t "QEMU actual", "" u 1:4 w l dt 2 t "QEMU RSS"
"""):
            made.append("balloon.png")
    pt = os.path.join(out, "prealloc-threads.dat")
    if os.path.exists(pt):
        png = os.path.join(out, "prealloc.png")
        if gnuplot(f"""set terminal pngcairo size 1000,600
set output "{png}"
set title "-mem-prealloc throughput by thread count"
set xlabel "threads"; set ylabel "GB/s"; set xtics 1; set key outside bottom center horizontal
set datafile missing "-"
plot for [i=0:2] "{pt}" index i u 1:2 w lp lw 2 lc i+1 t columnheader(1)." memvm", \\
     for [i=0:2] "{pt}" index i u 1:3 w lp dt 2 lc i+1 t columnheader(1)." limit", \\
     for [i=0:2] "{pt}" index i u 1:4 w lp dt 3 lc i+1 t columnheader(1)." QEMU"
"""):
            made.append("prealloc.png")
    ap = os.path.join(out, "autopilot", "autopilot.png")
    if os.path.exists(ap):
        made.append("autopilot/autopilot.png")
    return made


def main():
    rows = load_rows()
    where = sorted({r["where"] for r in rows}) or ["unknown"]
    report = []
    for r in rows:
        m, p = summary(r["memvm"]), summary(r["peer_values"])
        report.append(dict(r, memvm_summary=m, peer_summary=p, ratio=ratio(r, m, p)))
    made = plots()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump({"date": stamp, "where": where, "rows": report, "plots": made}, f, indent=1)
    lines = [f"# memvm benchmarks, {stamp}", "",
             f"Machine: {os.uname().nodename}, {os.cpu_count()} CPUs; VMs ran in: {', '.join(where)}.",
             "Times inside a nested KVM host are TCG's: compare the ratios (memvm and its peer in the",
             "same run), not the absolute figures.", "",
             "| measurement | memvm | peer | peer's figure | ratio | where |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in report:
        peer = r["peer"] or "-"
        pcell = cell(r["peer_summary"], r["unit"]) if r["peer"] else "-"
        lines.append(f"| {r['group']}: {r['name']} | {cell(r['memvm_summary'], r['unit'])} | {peer} | "
                     f"{pcell} | {ratio_text(r, r['ratio'])} | {r['where']} |")
    if made:
        lines += ["", "Plots: " + ", ".join(f"[{p}]({p})" for p in made)]
    notes = os.path.join(out, "notes.txt")
    if os.path.exists(notes):
        lines += ["", "Notes:", ""] + ["- " + l.strip() for l in open(notes) if l.strip()]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


main()
