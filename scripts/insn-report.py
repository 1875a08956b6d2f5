#!/usr/bin/env python3
"""Prints scripts/insn-profile's counts: instructions per I/O by module and by
function, each pairing against C+C.

Usage: insn-report.py DIR [TOP]
"""
import bisect
import collections
import json
import os
import re
import subprocess
import sys


def demangle(names):
    """Rust (and C++) symbol names as written, without crate hashes."""
    r = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
    out = r.stdout.splitlines() if r.returncode == 0 else names
    if len(out) != len(names):
        out = names
    return {n: re.sub(r"\[[0-9a-f]{16}\]", "", d) for n, d in zip(names, out)}


def symbols(path):
    """Text symbols of a kallsyms copy, sorted: (address, name, module)."""
    syms = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 3 or fields[1] not in "tTwW":
                continue
            module = fields[3].strip("[]") if len(fields) > 3 else "kernel"
            syms.append((int(fields[0], 16), fields[2], module))
    syms.sort()
    return syms


def per_io(counts, syms, ios):
    """Instructions per I/O by (function, module) and by module."""
    addrs = [s[0] for s in syms]
    funcs = collections.Counter()
    with open(counts) as f:
        for line in f:
            vaddr, insns, runs = line.split()
            vaddr = int(vaddr, 16)
            if vaddr < 1 << 63:
                key = ("(user space)", "user")
            else:
                i = bisect.bisect_right(addrs, vaddr) - 1
                key = (syms[i][1], syms[i][2]) if i >= 0 else ("?", "kernel")
            funcs[key] += int(insns) * int(runs)
    funcs = {k: v / ios for k, v in funcs.items()}
    modules = collections.Counter()
    for (_, module), v in funcs.items():
        modules[module] += v
    return funcs, modules


def main():
    out = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with open(os.path.join(out, "runs.json")) as f:
        runs = json.load(f)
    # Runs of one pairing (C+C runs first and last) are averaged.
    measured = collections.defaultdict(list)
    names = {}
    for r in runs:
        counts = os.path.join(out, f"counts.{r['dump']}")
        syms = symbols(os.path.join(out, f"kallsyms.{r['dump']}"))
        measured[r["tag"]].append(per_io(counts, syms, r["ios"]))
        names[r["tag"]] = r["name"]
    data = {}
    for tag, results in measured.items():
        funcs, mods = collections.Counter(), collections.Counter()
        for f, m in results:
            funcs.update({k: v / len(results) for k, v in f.items()})
            mods.update({k: v / len(results) for k, v in m.items()})
        data[tag] = (names[tag], funcs, mods)
        if len(results) > 1:
            totals = ", ".join(f"{sum(m.values()):.0f}" for _, m in results)
            print(f"{names[tag]}: {len(results)} runs, averaged "
                  f"(instructions per I/O: {totals})\n")
    base_name, base_funcs, base_mods = data["cc"]
    for tag, (name, funcs, mods) in data.items():
        if tag == "cc":
            continue
        total, base_total = sum(mods.values()), sum(base_mods.values())
        print(f"## {name} against {base_name}: instructions per I/O\n")
        print(f"total: {total:.0f} against {base_total:.0f} "
              f"({total - base_total:+.0f}, ratio {total / base_total:.3f})\n")
        print("| module | " + base_name + " | " + name + " | difference |")
        print("|---|---|---|---|")
        for m in sorted(set(mods) | set(base_mods),
                        key=lambda m: -abs(mods.get(m, 0) - base_mods.get(m, 0))):
            a, b = base_mods.get(m, 0), mods.get(m, 0)
            if max(a, b) >= 1:
                print(f"| {m} | {a:.0f} | {b:.0f} | {b - a:+.0f} |")
        print(f"\nFunctions, largest differences first (top {top}):\n")
        print("| function | module | " + base_name + " | " + name + " | difference |")
        print("|---|---|---|---|---|")
        keys = sorted(set(funcs) | set(base_funcs),
                      key=lambda k: -abs(funcs.get(k, 0) - base_funcs.get(k, 0)))[:top]
        names = demangle([k[0] for k in keys])
        for k in keys:
            a, b = base_funcs.get(k, 0), funcs.get(k, 0)
            print(f"| `{names[k[0]][:100]}` | {k[1]} | {a:.0f} | {b:.0f} | {b - a:+.0f} |")
        print()


main()
