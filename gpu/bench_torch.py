#!/usr/bin/env python3
"""bench_torch.py: what a user would run instead of DeFT today, measured with PyTorch's own kernels
on the same standard trees (../shared/workloads.md), in the same `make gpu-bench` run as deft's
kernels (gpu/bench_gpu.cu), and the joined table: deft's time, its unique-byte bandwidth as a
share of the copy probe, and its speed-up over the best PyTorch peer.

  seq   each query reads its whole root-to-node path: a Flash-Decoding style batch, one query per
        batch entry, K/V of each path materialized (prefixes duplicated) before timing; SDPA with
        enable_gqa, and a key-padding mask only where paths differ in length.
  mask  all queries against the whole tree's KV with a boolean tree mask (True = visible).

Timing: CUDA events around each call, the GPU held busy ahead of it (torch.cuda._sleep) so the host's
launch rate does not count, median of --reps, input copies rotated so one pass over them is at least
512 MB (8x the 60 MB L2).

usage: python3 gpu/bench_torch.py [--deft build/gpu_bench.csv] [--workloads LIST] [--reps N]
"""
import argparse
import csv
import math
import statistics
import sys

import torch
import torch.nn.functional as F

HQ, HKV, D = 32, 8, 128

# The GPU path's targets at this shape (docs/performance.md): a share of the copy probe's rate on
# unique bytes for the large trees, a time for the small ones, and a speed-up over the best
# PyTorch peer for every tree.
COPY_TARGET = {"wide": 0.70, "tot": 0.70, "fewshot50": 0.70}
TIME_TARGET_US = {"fewshot": 20.0, "specstar": 20.0, "specdec": 20.0}
PEER_TARGET = 5.0


def star(root, children, child_len):
    parent, kv, q = [-1], [root], [0]
    for _ in range(children):
        parent.append(0), kv.append(child_len), q.append(1)
    return parent, kv, q


def tot():
    parent, kv, q = [-1], [1000], [0]
    first, count = 0, 1
    for _ in range(3):
        nxt = len(parent)
        for p in range(first, first + count):
            for _ in range(3):
                parent.append(p), kv.append(200), q.append(0)
        first, count = nxt, count * 3
    for p in range(first, first + count):
        for _ in range(10):
            parent.append(p), kv.append(100), q.append(1)
    return parent, kv, q


def specdec():
    parent, kv, q = [-1], [4000], [0]
    for i in range(1, 65):
        parent.append(0 if i <= 4 else (i - 1) // 4), kv.append(1), q.append(1)
    return parent, kv, q


TREES = {
    "fewshot": lambda: star(4000, 20, 100),
    "fewshot50": lambda: star(4000, 50, 400),
    "tot": tot,
    "specstar": lambda: star(1000, 64, 1),
    "specdec": specdec,
    "wide": lambda: star(32000, 256, 256),
}


def visible_rows(parent, kv, q):
    """Per query (in deft's order): the KV rows it sees, root first (packed layout)."""
    off, at = [], 0
    for n in kv:
        off.append(at)
        at += n
    rows = []
    for u in range(len(parent)):
        anc = []
        a = parent[u]
        while a >= 0:
            anc.append(a)
            a = parent[a]
        prefix = [r for a in reversed(anc) for r in range(off[a], off[a] + kv[a])]
        for j in range(q[u]):
            pos = kv[u] - q[u] + j
            rows.append(prefix + list(range(off[u], off[u] + pos + 1)))
    return rows, at


def time_it(fn, reps, copies):
    start = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    end = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for i in range(3):
        fn(i % copies)
    torch.cuda.synchronize()
    for i in range(reps):
        torch.cuda._sleep(100_000)  # ~50 us of spinning: the host queues the call behind it
        start[i].record()
        fn(i % copies)
        end[i].record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(start, end)) * 1e3  # us


def n_copies(nbytes):
    return max(1, min(64, math.ceil(512 * 2**20 / max(nbytes, 1))))


def bench(name, reps, dev):
    parent, kv, q = TREES[name]()
    rows, total_kv = visible_rows(parent, kv, q)
    nq = len(rows)
    g = torch.Generator(device=dev).manual_seed(1)
    dt = torch.float16
    # mask: q (1, HQ, nq, D), k/v (1, HKV, total_kv, D), bool mask (nq, total_kv)
    mask = torch.zeros(nq, total_kv, dtype=torch.bool)
    for i, r in enumerate(rows):
        mask[i, r] = True
    mask = mask.to(dev)
    in_bytes = (nq * HQ * D + 2 * total_kv * HKV * D) * 2
    cm = n_copies(in_bytes)
    Q = [torch.randn(1, HQ, nq, D, device=dev, dtype=dt, generator=g) for _ in range(cm)]
    K = [torch.randn(1, HKV, total_kv, D, device=dev, dtype=dt, generator=g) for _ in range(cm)]
    V = [torch.randn(1, HKV, total_kv, D, device=dev, dtype=dt, generator=g) for _ in range(cm)]

    def run_mask(i):
        return F.scaled_dot_product_attention(Q[i], K[i], V[i], attn_mask=mask, enable_gqa=True)

    t_mask = time_it(run_mask, reps, cm)
    out_mask = run_mask(0)

    # seq: each query its own path, padded to the longest
    lmax = max(len(r) for r in rows)
    idx = torch.tensor([r + [r[-1]] * (lmax - len(r)) for r in rows], device=dev)  # (nq, lmax)
    same = all(len(r) == lmax for r in rows)
    pad = None if same else torch.tensor([[j < len(r) for j in range(lmax)] for r in rows],
                                         device=dev).view(nq, 1, 1, lmax)
    seq_bytes = (nq * HQ * D + 2 * nq * lmax * HKV * D) * 2
    cs = n_copies(seq_bytes)
    # (nq, HKV, lmax, D) gathered from copy 0's K/V (values do not matter to the timing; copy 0
    # lets the two approaches be compared on the same numbers)
    Ks, Vs, Qs = [], [], []
    for c in range(cs):
        src = c % cm
        Ks.append(K[src][0].index_select(1, idx.flatten()).view(HKV, nq, lmax, D).transpose(0, 1).contiguous())
        Vs.append(V[src][0].index_select(1, idx.flatten()).view(HKV, nq, lmax, D).transpose(0, 1).contiguous())
        Qs.append(Q[src][0].transpose(0, 1).unsqueeze(2).contiguous())  # (nq, HQ, 1, D)

    def run_seq(i):
        return F.scaled_dot_product_attention(Qs[i], Ks[i], Vs[i], attn_mask=pad, enable_gqa=True)

    t_seq = time_it(run_seq, reps, cs)
    out_seq = run_seq(0)  # (nq, HQ, 1, D)
    diff = (out_seq[:, :, 0, :].float() - out_mask[0].transpose(0, 1).float()).abs().max().item()
    del Ks, Vs, Qs, Q, K, V
    torch.cuda.empty_cache()
    return {"seq": t_seq, "mask": t_mask, "seq_vs_mask": diff, "copies": (cs, cm)}


def target_lines(rows, res, impl="gpu"):
    """Where each target stands for `impl`'s rows of the CSV, given the peers' times in res:
    one line per workload, each target with its value and 'met' or 'not met'."""
    out = []
    for row in rows:
        w = row["workload"]
        if row["impl"] != impl or w not in res:
            continue
        t = float(row["median_us"])
        parts = []
        if w in COPY_TARGET:
            share = float(row["ratio_to_copy"])
            parts.append(f"{100 * share:.1f}% of copy (>= {100 * COPY_TARGET[w]:.0f}%) "
                         f"{'met' if share >= COPY_TARGET[w] else 'not met'}")
        if w in TIME_TARGET_US:
            parts.append(f"{t:.1f} us (< {TIME_TARGET_US[w]:.0f}) {'met' if t < TIME_TARGET_US[w] else 'not met'}")
        x = min(res[w]["seq"], res[w]["mask"]) / t
        parts.append(f"{x:.1f}x best peer (>= {PEER_TARGET:.0f}x) {'met' if x >= PEER_TARGET else 'not met'}")
        out.append(f"  {w:10s} " + "; ".join(parts))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deft", default=None, help="CSV from bench_gpu to join")
    ap.add_argument("--workloads", default="fewshot,fewshot50,tot,specstar,specdec,wide")
    ap.add_argument("--reps", type=int, default=50)
    a = ap.parse_args()
    dev = torch.device("cuda")
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}; f16, Hq {HQ}, Hkv {HKV}, D {D}; "
          f"median of {a.reps}, us")
    res = {}
    for w in a.workloads.split(","):
        r = bench(w, a.reps, dev)
        res[w] = r
        print(f"  {w:10s} seq {r['seq']:9.1f}  mask {r['mask']:9.1f}  (max |seq - mask| {r['seq_vs_mask']:.2e}, "
              f"copies {r['copies'][0]}/{r['copies'][1]})", flush=True)
    if not a.deft:
        return
    rows = list(csv.DictReader(open(a.deft)))
    print("\nGPU benchmark (H200 f16 Hq 32 Hkv 8 D 128): deft against the copy probe and PyTorch, us")
    # launch: three empty kernels launched as a run of gpu is, timed the same way (bench_gpu.cu)
    print(f"{'workload':10s} {'impl':10s} {'chunk':>5s} {'deft':>8s} {'floor':>7s} {'of copy':>8s} "
          f"{'launch':>7s} {'seq':>8s} {'mask':>8s} {'x best peer':>11s}")
    for row in rows:
        w = row["workload"]
        if w not in res:
            continue
        t = float(row["median_us"])
        best = min(res[w]["seq"], res[w]["mask"])
        print(f"{w:10s} {row['impl']:10s} {row['chunk_tokens']:>5s} {t:8.1f} {float(row['floor_us']):7.1f} "
              f"{100 * float(row['ratio_to_copy']):7.1f}% {float(row.get('launch_floor_us') or 'nan'):7.1f} "
              f"{res[w]['seq']:8.1f} {res[w]['mask']:8.1f} "
              f"{best / t:10.1f}x")
    lines = target_lines(rows, res)
    if lines:
        print("\ntargets (gpu; docs/performance.md):")
        print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
