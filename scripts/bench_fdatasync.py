#!/usr/bin/env python3
"""One fio run of the disk limit case `a_4k_fdatasync_overwrite` of ../shared/bench/peers (4 KiB
writes to a preallocated file, fdatasync after each), printed with the tail the peers' line
leaves out (p99.9 and the slowest fdatasync), so that scripts/bench can compare the disk alone
with the disk while other processes keep the machine busy.

    bench_fdatasync.py --case NAME --seconds S --file PATH

Prints `peer=disk case=NAME ops_per_s=.. p50_ms=.. p99_ms=.. p999_ms=.. max_ms=..`."""
import argparse
import json
import os
import subprocess


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--file", required=True)
    a = ap.parse_args()
    if os.path.exists(a.file):
        os.unlink(a.file)
    cmd = ["fio", "--name=j", f"--filename={a.file}", "--output-format=json", "--rw=write",
           "--bs=4k", "--size=256m", "--fdatasync=1", "--ioengine=psync", "--overwrite=1",
           "--time_based", f"--runtime={a.seconds}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(a.file)
    job = json.loads(out[out.index("{"):])["jobs"][0]
    lat = job["sync"]["lat_ns"]
    pct = lat["percentile"]
    ops = job["write"]["total_ios"] / (job["job_runtime"] / 1000.0)
    print(f"peer=disk case={a.case} ops_per_s={ops:.0f} p50_ms={pct['50.000000'] / 1e6:.3f} "
          f"p99_ms={pct['99.000000'] / 1e6:.3f} p999_ms={pct['99.900000'] / 1e6:.3f} "
          f"max_ms={lat['max'] / 1e6:.3f}", flush=True)


if __name__ == "__main__":
    main()
