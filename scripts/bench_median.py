#!/usr/bin/env python3
"""Collapse benchmark result lines (`peer=P case=C rep=N key=value ...`, one per repetition)
read on stdin into one line per (peer, case): the median of every numeric field, the first
value of the others. Lines that are not results are ignored."""
import collections
import statistics
import sys

groups = collections.OrderedDict()
for line in sys.stdin:
    if not line.startswith("peer="):
        continue
    fields = dict(p.split("=", 1) for p in line.split() if "=" in p)
    groups.setdefault((fields["peer"], fields["case"]), []).append(fields)

for (peer, case), rows in groups.items():
    out = [f"peer={peer}", f"case={case}", f"reps={len(rows)}", "stat=median"]
    for key in rows[0]:
        if key in ("peer", "case", "rep"):
            continue
        try:
            value = statistics.median(float(r[key]) for r in rows)
            out.append(f"{key}={value:.3f}" if abs(value) < 100 else f"{key}={value:.0f}")
        except (KeyError, ValueError):
            out.append(f"{key}={rows[0][key]}")
    print(" ".join(out), flush=True)
