#!/usr/bin/env python3
"""Guest side of scripts/bench: fio against a null_blk-backed namespace for
each host/target pairing, nvme-loop and local null_blk as ceilings.

Usage: bench.py OUT.json [--runtime SECONDS] [--reps N] [--only TAGS] [--profile DIR]
                [--profile-workload NAME] [--tls] [--scaling] [--hog]

--only TAGS: only these configurations, comma-separated tags (cc, c-rust,
rust-c, rust-rust, loop, local, and c-rust-np, rust-c-np, rust-rust-np: the
pairings with our modules loaded wq_highpri=0); C+C always runs, since it is
the baseline.

--profile DIR: afterwards, record each TCP pairing under 4K randread QD32x2
with `perf record -a` (cpu-clock sampling: the emulated CPU has no PMU) and
write DIR/<pairing>.txt, the hottest symbols (DIR/<pairing>.data is the
recording, for `perf report -i` or `perf script` in the guest).
--profile-workload NAME: record under that workload instead (a name of the
table, e.g. read-128k-qd16).

--scaling: also 4K randread at QD32 over 1, 2 and 4 I/O queues (as many as
the guest has CPUs), one fio job per queue, each on its own CPU: the
workloads scaling-q1, scaling-q2, scaling-q4.

--hog: a busy loop at nice 0 on every CPU throughout, competing with fio and
with the transports' work (which runs at normal priority in the -np
configurations, at high priority otherwise).

--tls: every TCP pairing over TLS 1.3 with a PSK (a port with addr_tsas
tls1.3 and addr_treq required, `nvme connect --tls`, tlshd serving both
sides' handshakes; a PSK made with nvme-cli in the .nvme keyring); the
ceilings (nvme-loop, local null_blk), which have no TLS, are left out.

Pairings and ceilings are measured in alternation (rep 1 of each, then rep 2
of each, ...) so that drift in the emulated machine spreads over all of them;
each figure is the median over the reps. A pairing whose side cannot serve yet
is skipped and the reason recorded.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NVMET = "/sys/kernel/config/nvmet"
NQN = "nqn.2026-11.io.nvme-tcp-rs:bench"
USER_HZ = os.sysconf("SC_CLK_TCK")

WORKLOADS = [
    # name, fio arguments, metrics
    ("randread-4k-qd1", ["--rw=randread", "--bs=4k", "--iodepth=1", "--numjobs=1"], "lat"),
    ("randread-4k-qd32x2", ["--rw=randread", "--bs=4k", "--iodepth=32", "--numjobs=2"], "iops"),
    ("randwrite-4k-qd32x2", ["--rw=randwrite", "--bs=4k", "--iodepth=32", "--numjobs=2"], "iops"),
    ("read-128k-qd16", ["--rw=read", "--bs=128k", "--iodepth=16", "--numjobs=1"], "bw"),
    ("write-128k-qd16", ["--rw=write", "--bs=128k", "--iodepth=16", "--numjobs=1"], "bw"),
]

# Parameters our modules get in the "-np" configurations: busy queues batch at normal priority.
BATCHING = ["wq_highpri=0"]

CONFIGS = [
    # name, tag, kind, host impl, target impl, parameters of our modules
    ("C+C", "cc", "tcp", "c", "c", []),
    ("C host + Rust target", "c-rust", "tcp", "c", "rust", []),
    ("Rust host + C target", "rust-c", "tcp", "rust", "c", []),
    ("Rust+Rust", "rust-rust", "tcp", "rust", "rust", []),
    ("C host + Rust target -np", "c-rust-np", "tcp", "c", "rust", BATCHING),
    ("Rust host + C target -np", "rust-c-np", "tcp", "rust", "c", BATCHING),
    ("Rust+Rust -np", "rust-rust-np", "tcp", "rust", "rust", BATCHING),
    ("nvme-loop", "loop", "loop", None, None, []),
    ("local null_blk", "local", "local", None, None, []),
]


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def write(path, value):
    with open(path, "w") as f:
        f.write(value)


def impl(action, *args):
    return sh(os.path.join(HERE, "impl"), action, *args)


def clear():
    subprocess.run(["bash", "-c", f". {HERE}/lib.sh; nvmet_clear"], check=False)


def sys_jiffies():
    """System, IRQ and softirq time of all CPUs, in clock ticks."""
    with open("/proc/stat") as f:
        cpu = f.readline().split()
    return int(cpu[3]) + int(cpu[6]) + int(cpu[7])


def tcp_out_segs():
    """TCP segments sent by the guest (both ends of the loopback connections)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("OutSegs")])


def context_switches():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("ctxt "):
                return int(line.split()[1])
    return 0


TLS = False


def tls_setup():
    """The PSK for this host and the subsystem in .nvme, and tlshd running (after the
    keyring is made, for tlshd to link it)."""
    sh("modprobe", "nvme_keyring")
    hostnqn = open("/etc/nvme/hostnqn").read().strip()
    sh("bash", "-c", f". {HERE}/lib.sh; tls_psk {hostnqn} {NQN}")
    with open("/tmp/tlshd.conf", "w") as f:
        f.write("[debug]\nloglevel=0\n[authenticate]\nkeyrings=.nvme\n")
    tlshd = subprocess.Popen(["/usr/sbin/tlshd", "-s", "-c", "/tmp/tlshd.conf"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    if tlshd.poll() is not None:
        raise SystemExit("tlshd did not start")
    return tlshd


def scaling_workloads():
    """The scaling line's workloads: name, fio arguments, metric."""
    return [(f"scaling-q{q}", ["--rw=randread", "--bs=4k", "--iodepth=32", f"--numjobs={q}",
                                f"--cpus_allowed=0-{q - 1}", "--cpus_allowed_policy=split"],
             "iops", q) for q in (1, 2, 4) if q <= os.cpu_count()]


def setup(kind, host, target, params=(), queues=None):
    """Sets up one configuration, our modules loaded with `params`, the host with `queues`
    I/O queues if given; returns its block device or raises with why not."""
    if kind == "local":
        return "/dev/nullb0"
    os.makedirs(f"{NVMET}/subsystems/{NQN}")
    s = f"{NVMET}/subsystems/{NQN}"
    write(f"{s}/attr_allow_any_host", "1")
    os.makedirs(f"{s}/namespaces/1")
    write(f"{s}/namespaces/1/device_path", "/dev/nullb0")
    write(f"{s}/namespaces/1/enable", "1")
    p = f"{NVMET}/ports/1"
    os.makedirs(p)
    if kind == "loop":
        sh("modprobe", "nvme-loop")
        write(f"{p}/addr_trtype", "loop")
    else:
        impl("load", target, "target", *params)
        write(f"{p}/addr_adrfam", "ipv4")
        write(f"{p}/addr_trtype", "tcp")
        write(f"{p}/addr_traddr", "127.0.0.1")
        write(f"{p}/addr_trsvcid", "4420")
        if TLS:
            write(f"{p}/addr_tsas", "tls1.3")
            write(f"{p}/addr_treq", "required")
    try:
        os.symlink(s, f"{p}/subsystems/{NQN}")
    except OSError as e:
        raise RuntimeError(f"the {target} target cannot enable a TCP port ({e.strerror})")
    if kind == "loop":
        r = sh("nvme", "connect", "-t", "loop", "-n", NQN, check=False)
    else:
        impl("load", host, "host", *params)
        tls = ["--tls"] if TLS else []
        nr = [f"--nr-io-queues={queues}"] if queues else []
        r = sh("nvme", "connect", "-t", "tcp", "-a", "127.0.0.1", "-s", "4420", "-n", NQN, *tls,
               *nr, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"the {host} host cannot connect ({r.stderr.strip()})")
    dev = sh("bash", "-c", f". {HERE}/lib.sh; nvme_dev_for {NQN}").stdout.strip()
    if not dev:
        raise RuntimeError("no block device appeared")
    return dev


def teardown(kind):
    if kind == "local":
        return
    sh("nvme", "disconnect", "-n", NQN, check=False)
    clear()
    if kind == "tcp":
        sh(os.path.join(HERE, "impl"), "unload", "host", check=False)
        sh(os.path.join(HERE, "impl"), "unload", "target", check=False)
    else:
        sh("rmmod", "nvme_loop", check=False)


def run_fio(dev, args, runtime):
    before = sys_jiffies()
    segs, ctxt = tcp_out_segs(), context_switches()
    r = sh("fio", "--name=bench", f"--filename={dev}", "--direct=1", "--ioengine=io_uring",
           "--time_based", f"--runtime={runtime}", "--ramp_time=1", "--group_reporting",
           "--size=512m", "--lat_percentiles=1", "--output-format=json", *args)
    after = sys_jiffies()
    segs, ctxt = tcp_out_segs() - segs, context_switches() - ctxt
    job = json.loads(r.stdout)["jobs"][0]
    ios = job["read"]["total_ios"] + job["write"]["total_ios"]
    side = job["read"] if job["read"]["total_ios"] else job["write"]
    # Total latency (submission + completion): the host's send path runs in the submitting
    # call, so completion latency alone would miss most of it.
    lat = side["lat_ns"]["percentile"]
    return {
        "iops": side["iops"],
        "mb_s": side["bw_bytes"] / 1e6,
        # fio's percentiles are histogram bins (about 1.5 % apart at 100 µs); the mean is not.
        "lat_mean_us": side["lat_ns"]["mean"] / 1000,
        "lat_p50_us": lat["50.000000"] / 1000,
        "lat_p99_us": lat["99.000000"] / 1000,
        # Whole-guest system time (includes the transports' work items).
        "sys_us_per_io": (after - before) * 1e6 / USER_HZ / ios if ios else None,
        # Counted over the ramp time too, so slightly high; compare between configurations.
        "segs_per_io": segs / ios if ios else None,
        "ctxt_per_io": ctxt / ios if ios else None,
    }


def profile(outdir, runtime, chosen, workload):
    """Where the time goes: perf samples of the whole guest under one workload."""
    os.makedirs(outdir, exist_ok=True)
    wargs = dict((w[0], w[1]) for w in WORKLOADS)[workload]
    for name, _tag, kind, host, target, params in CONFIGS:
        if kind != "tcp" or name not in chosen:
            continue
        tag = name.replace(" ", "_").replace("+", "p")
        try:
            dev = setup(kind, host, target, params)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            print(f"profile: skipping {name}: {e}", flush=True)
            teardown(kind)
            continue
        # perf cannot record onto the shared directory: record in the guest, copy after.
        data = f"/tmp/perf-{tag}.data"
        sh("perf", "record", "-a", "-q", "-e", "cpu-clock", "-F", "4000", "-o", data, "--",
           "fio", "--name=bench", f"--filename={dev}", "--direct=1", "--ioengine=io_uring",
           "--time_based", f"--runtime={runtime}", "--size=512m", *wargs)
        teardown(kind)
        with open(os.path.join(outdir, f"{tag}.txt"), "w") as f:
            for sort in ("dso", "sym"):
                r = sh("perf", "report", "-i", data, "--stdio", "--sort", sort,
                       "--percent-limit", "0.1", check=False)
                f.write(r.stdout)
        shutil.copy(data, os.path.join(outdir, f"{tag}.data"))
        print(f"profile: {name} -> {tag}.txt", flush=True)


def main():
    global TLS
    out = sys.argv[1]
    runtime = 5
    reps = 3
    profile_dir = None
    profile_workload = "randread-4k-qd32x2"
    only = None
    scaling = []
    hog = False
    args = sys.argv[2:]
    while args:
        if args[0] == "--runtime":
            runtime = int(args[1])
        elif args[0] == "--reps":
            reps = int(args[1])
        elif args[0] == "--only":
            only = set(args[1].split(",")) | {"cc"}
        elif args[0] == "--profile":
            profile_dir = args[1]
        elif args[0] == "--profile-workload":
            profile_workload = args[1]
        elif args[0] == "--tls":
            TLS = True
            args = args[1:]
            continue
        elif args[0] == "--hog":
            hog = True
            args = args[1:]
            continue
        elif args[0] == "--scaling":
            scaling = scaling_workloads()
            args = args[1:]
            continue
        args = args[2:]
    sh("mount", "-t", "configfs", "none", "/sys/kernel/config", check=False)
    sh("modprobe", "null_blk", "nr_devices=1", "gb=1", "queue_mode=2", "irqmode=0",
       f"submit_queues={os.cpu_count()}")
    sh("modprobe", "nvmet")
    tlshd = tls_setup() if TLS else None
    configs = [c for c in CONFIGS if (only is None or c[1] in only) and not (TLS and c[2] != "tcp")]
    chosen = {c[0] for c in configs}
    workloads = WORKLOADS + [w[:3] for w in scaling]
    results = {name: {w[0]: [] for w in workloads} for name, *_ in configs}
    skipped = {}
    hogs = [subprocess.Popen(["taskset", "-c", str(cpu), "sh", "-c", "while :; do :; done"])
            for cpu in range(os.cpu_count())] if hog else []
    for rep in range(reps):
        for name, _tag, kind, host, target, params in configs:
            if name in skipped:
                continue
            try:
                dev = setup(kind, host, target, params)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
                skipped[name] = str(e)
                print(f"skipping {name}: {e}", flush=True)
                teardown(kind)
                continue
            for wname, wargs, _ in WORKLOADS:
                res = run_fio(dev, wargs, runtime)
                results[name][wname].append(res)
                print(f"rep {rep + 1} {name:22} {wname:20} {res['iops']:10.0f} IOPS "
                      f"{res['mb_s']:8.1f} MB/s p50 {res['lat_p50_us']:8.1f} us", flush=True)
            teardown(kind)
            for wname, wargs, _, queues in scaling:
                dev = setup(kind, host, target, params, queues)
                res = run_fio(dev, wargs, runtime)
                results[name][wname].append(res)
                print(f"rep {rep + 1} {name:22} {wname:20} {res['iops']:10.0f} IOPS", flush=True)
                teardown(kind)
    for h in hogs:
        h.kill()
    summary = {}
    for name, *_ in configs:
        if name in skipped:
            continue
        summary[name] = {}
        for wname, _, _ in workloads:
            runs = results[name][wname]
            summary[name][wname] = {
                k: statistics.median(r[k] for r in runs) for k in runs[0] if runs[0][k] is not None
            }
    with open(out, "w") as f:
        json.dump({"kernel": os.uname().release, "runtime_s": runtime, "reps": reps, "tls": TLS,
                   "cpus": os.cpu_count(), "hog": hog,
                   "workloads": {w[0]: w[2] for w in workloads},
                   "results": summary, "skipped": skipped, "runs": results}, f, indent=1)
    if profile_dir:
        profile(profile_dir, runtime, chosen, profile_workload)
    if tlshd:
        tlshd.terminate()


if __name__ == "__main__":
    main()
