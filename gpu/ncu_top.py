#!/usr/bin/env python3
"""ncu_top.py: where a kernel's time goes, from an Nsight Compute source page (SASS).

usage: ncu --import REP --page source --csv --print-source sass > src.csv
       python3 gpu/ncu_top.py src.csv [N]
Prints the N (default 25) instructions with the most warp-stall samples, then the executed
instructions summed by opcode (the instruction mix)."""
import collections
import csv
import sys


def main():
    path, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25
    lines = open(path, errors="replace").read().splitlines()
    blocks, cur = [], None
    for ln in lines:
        if "Warp Stall Sampling (All Samples)" in ln and "Source" in ln:
            cur = [ln]
            blocks.append(cur)
        elif cur is not None:
            cur.append(ln)
    for b in blocks:
        rows = list(csv.reader(b))
        hdr = rows[0]
        src, col = hdr.index("Source"), hdr.index("Warp Stall Sampling (All Samples)")
        ex = hdr.index("Instructions Executed") if "Instructions Executed" in hdr else None
        data = []
        for r in rows[1:]:
            if len(r) != len(hdr):
                continue
            try:
                e = float(r[ex].replace(",", "") or 0) if ex is not None else 0.0
                data.append((float(r[col].replace(",", "") or 0), r[src], r[0], e))
            except ValueError:
                continue
        total = sum(x[0] for x in data) or 1.0
        print(f"--- {len(data)} instructions, {total:.0f} stall samples")
        for s, text, addr, _ in sorted(data, reverse=True)[:n]:
            print(f"{100 * s / total:5.1f}%  {addr:>8s}  {text}")
        mix = collections.Counter()
        for _, text, _, e in data:
            words = text.split()
            op = next((w for w in words if not w.startswith("@")), "?").split(".")[0]
            mix[op] += e
        tot = sum(mix.values()) or 1.0
        print(f"--- instruction mix ({tot:.0f} warp instructions executed)")
        for op, e in mix.most_common(n):
            print(f"{100 * e / tot:5.1f}%  {op}")


if __name__ == "__main__":
    main()
