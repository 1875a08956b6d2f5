"""Guest side of scripts/insn-profile: runs one fio workload per host/target
pairing with the instruction-counting QEMU plugin armed around it.

Usage: insn.py OUTDIR RW BS IODEPTH NUMJOBS RUNTIME TAG...

For each pairing (tags as in bench.py) it sets up the pairing, warms up for a
second, then calls syncfs(2) (the plugin zeroes its counts), runs fio, and
calls sync(2) (the plugin writes the counts since, as its next dump). C+C
runs both first and last (when there is another pairing), so that the order
favours no pairing and the two runs show the spread between runs; the report
averages them. It writes
OUTDIR/runs.json (pairing, dump number, I/Os) and a copy of /proc/kallsyms
per run, as modules load at different addresses.
"""
import ctypes
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

libc = ctypes.CDLL(None, use_errno=True)


def main():
    out, rw, bs, qd, jobs, runtime, *tags = sys.argv[1:]
    bench.sh("mount", "-t", "configfs", "none", "/sys/kernel/config", check=False)
    bench.sh("modprobe", "null_blk", "nr_devices=1", "gb=1", "queue_mode=2", "irqmode=0",
             f"submit_queues={os.cpu_count()}")
    bench.sh("modprobe", "nvmet")
    # The tag "tls": every pairing over TLS (see bench.py's --tls).
    tlshd = None
    if "tls" in tags:
        bench.TLS = True
        tlshd = bench.tls_setup()
    runs = []
    root = os.open("/", os.O_RDONLY)
    chosen = [c for c in bench.CONFIGS if c[1] in tags and c[2] == "tcp"]
    if len(chosen) > 1 and chosen[0][1] == "cc":
        chosen.append(chosen[0])
    for name, tag, kind, host, target, params in chosen:
        dev = bench.setup(kind, host, target, params)
        args = [f"--filename={dev}", "--direct=1", "--ioengine=io_uring", f"--rw={rw}",
                f"--bs={bs}", f"--iodepth={qd}", f"--numjobs={jobs}", "--size=512m",
                "--group_reporting", "--time_based"]
        bench.sh("fio", "--name=warmup", *args, "--runtime=1")
        if libc.syncfs(root) != 0:
            raise OSError(ctypes.get_errno(), "syncfs")
        r = bench.sh("fio", "--name=measure", *args, f"--runtime={runtime}",
                     "--output-format=json")
        os.sync()
        shutil.copy("/proc/kallsyms", os.path.join(out, f"kallsyms.{len(runs)}"))
        job = json.loads(r.stdout)["jobs"][0]
        ios = job["read"]["total_ios"] + job["write"]["total_ios"]
        runs.append({"name": name, "tag": tag, "dump": len(runs), "ios": ios})
        print(f"{name}: {ios} I/Os", flush=True)
        bench.teardown(kind)
    with open(os.path.join(out, "runs.json"), "w") as f:
        json.dump(runs, f)
    if tlshd:
        tlshd.terminate()


main()
