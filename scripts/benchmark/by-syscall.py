#!/usr/bin/env python3
"""The CPU time of one process per operation, by the system call it was in.

Reads `perf script` output of a `perf record -e cpu-clock -F HZ -a -g` on
stdin; prints, for the samples whose command is COMM, the microseconds per
operation spent in each system call (the outermost __x64_sys_*, ksys_* or
__do_sys_* frame of the sample's stack), in the kernel outside a system call
whose entry the stack does not name (writev's shows as do_writev: "other
kernel"), and in user space.

    perf record -e cpu-clock -F 10000 -a -g -o perf.data -- sleep 3   # while the client runs
    perf script -i perf.data | scripts/benchmark/by-syscall.py COMM OPERATIONS 10000

OPERATIONS is the number of operations the client made during the
recording (its rate times the recording's length); HZ the sampling
frequency given to perf record.
"""
import collections
import re
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    comm, operations, hz = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    per_sample_us = 1e6 / hz
    times = collections.Counter()
    for block in sys.stdin.read().split("\n\n"):
        lines = [line for line in block.strip().split("\n") if line.strip()]
        if not lines or lines[0].split()[0] != comm:
            continue
        frames = [line.split()[1] if len(line.split()) > 1 else "" for line in lines[1:]]
        where = None
        for frame in frames:
            match = re.match(r"(__x64_sys_\w+|ksys_\w+|__do_sys_\w+)", frame)
            if match:
                where = match.group(1)
        if where is None:
            kernel = bool(lines[1:]) and lines[1].rstrip().endswith("([kernel.kallsyms])")
            where = "other kernel" if kernel else "user space"
        times[where] += 1
    total = sum(times.values())
    for where, samples in times.most_common():
        print(f"{samples * per_sample_us / operations:8.2f} us  {where}")
    print(f"{total * per_sample_us / operations:8.2f} us  all")


if __name__ == "__main__":
    main()
