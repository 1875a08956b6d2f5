#!/usr/bin/env python3
"""Print the Markdown table of a scripts/bench JSON file, ratios to C+C."""
import json
import sys

data = json.load(open(sys.argv[1]))
res = data["results"]
base = res.get("C+C")
cols = [
    ("randread-4k-qd1", "lat_mean_us", "QD1 mean µs"),
    ("randread-4k-qd1", "lat_p50_us", "QD1 p50 µs"),
    ("randread-4k-qd1", "lat_p99_us", "QD1 p99 µs"),
    ("randread-4k-qd32x2", "iops", "randread IOPS"),
    ("randwrite-4k-qd32x2", "iops", "randwrite IOPS"),
    ("read-128k-qd16", "mb_s", "seq read MB/s"),
    ("write-128k-qd16", "mb_s", "seq write MB/s"),
    ("randread-4k-qd32x2", "sys_us_per_io", "sys µs/IO (randread)"),
    ("randread-4k-qd32x2", "segs_per_io", "TCP segs/IO (randread)"),
    ("randread-4k-qd32x2", "ctxt_per_io", "ctxt/IO (randread)"),
]
print(f"kernel {data['kernel']}, {'TLS 1.3 (PSK), ' if data.get('tls') else ''}"
      f"{'a busy loop on every CPU, ' if data.get('hog') else ''}"
      f"{data['reps']} alternating reps of {data['runtime_s']} s, medians; "
      "ratio to C+C in brackets (for latency and CPU, lower is better)\n")
print("| configuration | " + " | ".join(c[2] for c in cols) + " |")
print("|---" * (len(cols) + 1) + "|")
for name, wl in res.items():
    cells = []
    for w, k, _ in cols:
        v = wl.get(w, {}).get(k)
        if v is None:
            cells.append("–")
            continue
        b = base.get(w, {}).get(k) if base else None
        ratio = f" ({v / b:.2f})" if b else ""
        cells.append(f"{v:.2f}{ratio}" if v < 10 else f"{v:.1f}{ratio}" if v < 100 else f"{v:.0f}{ratio}")
    print(f"| {name} | " + " | ".join(cells) + " |")
scaling = [w for w in data["workloads"] if w.startswith("scaling-q")]
if scaling:
    print(f"\n4K randread IOPS by I/O queues (QD32, one fio job per queue, each on its own "
          f"CPU; {data.get('cpus', '?')} vCPUs); ratio to C+C in brackets\n")
    print("| configuration | " + " | ".join(f"{w[len('scaling-q'):]} queue(s)" for w in scaling) + " |")
    print("|---" * (len(scaling) + 1) + "|")
    for name, wl in res.items():
        cells = []
        for w in scaling:
            v = wl.get(w, {}).get("iops")
            b = base.get(w, {}).get("iops") if base else None
            cells.append("–" if v is None else f"{v:.0f}" + (f" ({v / b:.2f})" if b else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")
for name, why in data["skipped"].items():
    print(f"\nskipped {name}: {why}")
