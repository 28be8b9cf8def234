#!/usr/bin/python3
"""Validate a tree-attention kernel written in Python against deft's reference.

The round trip a PyTorch / Triton / NumPy kernel author makes:

    deft gen --workload tot --dtype f16 --heads 8:2 --dim 64 --out case   # inputs + reference
    python: load case/tree.txt and case/{q,k,v}.npy, run your kernel, np.save o.npy and lse.npy
    deft check --case case --out o.npy --lse lse.npy                       # exit 0 pass, 1 mismatch

Here the "kernel" is a float32 NumPy implementation of tree attention with a causal mask; swap in
your own. `--bug causal` plants an off-by-one causal boundary to show a failing check.

Usage: numpy_kernel.py [--deft PATH] [--workload NAME] [--dtype f32|f16|bf16] [--bug causal]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np


def read_tree(path):
    """Parses a deft tree file (docs/formats.md) into a dict."""
    tree = {"scale": None, "offsets": None}
    rows = []
    with open(path) as f:
        lines = [ln.split() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines[0] == ["deft-tree", "1"], "not a version-1 deft tree file"
    i = 1
    while lines[i][0] != "node":
        key, vals = lines[i][0], lines[i][1:]
        if key == "nodes":
            tree["n"] = int(vals[0])
        elif key == "heads":
            tree["hq"], tree["hkv"] = int(vals[0]), int(vals[1])
        elif key == "dim":
            tree["d"] = int(vals[0])
        elif key == "dtype":
            tree["dtype"] = vals[0]
        elif key == "scale" and vals[0] != "default":
            tree["scale"] = float(vals[0])
        elif key == "offsets":
            tree["given"] = vals[0] == "given"
        elif key == "total_kv":
            tree["total_kv"] = int(vals[0])
        i += 1
    i += 1  # the column header
    while lines[i][0] != "end":
        rows.append([int(x) for x in lines[i]])
        i += 1
    rows = np.array(rows, dtype=np.int64).reshape(-1, 5 if tree.get("given") else 4)
    tree["parent"], tree["kv_len"], tree["q_len"] = rows[:, 1], rows[:, 2], rows[:, 3]
    if tree.get("given"):
        tree["offsets"] = rows[:, 4]
    else:
        tree["offsets"] = np.concatenate([[0], np.cumsum(tree["kv_len"])[:-1]]).astype(np.int64)
    if tree["scale"] is None:
        tree["scale"] = 1.0 / np.sqrt(tree["d"])
    return tree


def load(path, dtype):
    """Loads q/k/v as float32; bf16 is stored as its raw upper 16 bits ('<u2')."""
    a = np.load(path)
    if dtype == "bf16":
        a = (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


def tree_attention(tree, q, k, v, bug=None):
    """The kernel under test: float32 attention of every query over its visible rows."""
    hq, hkv, d = tree["hq"], tree["hkv"], tree["d"]
    group = hq // hkv
    o = np.zeros((q.shape[0], hq, d), np.float32)
    lse = np.zeros((q.shape[0], hq), np.float32)
    qi = 0
    for u in range(len(tree["parent"])):
        first = tree["kv_len"][u] - tree["q_len"][u]
        ancestors = []
        a = tree["parent"][u]
        while a >= 0:
            ancestors.append(a)
            a = tree["parent"][a]
        rows = [np.arange(tree["offsets"][a], tree["offsets"][a] + tree["kv_len"][a]) for a in ancestors]
        for pos in range(first, tree["kv_len"][u]):
            own = pos + (0 if bug == "causal" else 1)  # tokens 0..pos of its own node
            vis = np.concatenate(rows + [np.arange(tree["offsets"][u], tree["offsets"][u] + own)])
            for h in range(hq):
                kk, vv = k[vis, h // group, :], v[vis, h // group, :]
                s = np.float32(tree["scale"]) * (kk @ q[qi, h, :])
                m = s.max()
                w = np.exp(s - m)
                o[qi, h, :] = (w @ vv) / w.sum()
                lse[qi, h] = m + np.log(w.sum())  # natural log, as deft wants
            qi += 1
    return o, lse


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deft", default=os.path.join(os.path.dirname(__file__), "..", "build", "deft"))
    ap.add_argument("--workload", default="tot")
    ap.add_argument("--dtype", default="f16")
    ap.add_argument("--bug", choices=["causal"], default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        case = os.path.join(tmp, "case")
        subprocess.run([args.deft, "gen", "--workload", args.workload, "--dtype", args.dtype,
                        "--heads", "8:2", "--dim", "64", "--out", case], check=True)
        tree = read_tree(os.path.join(case, "tree.txt"))
        q, k, v = (load(os.path.join(case, n + ".npy"), tree["dtype"]) for n in "qkv")
        o, lse = tree_attention(tree, q, k, v, args.bug)
        np.save(os.path.join(tmp, "o.npy"), o)
        np.save(os.path.join(tmp, "lse.npy"), lse)
        r = subprocess.run([args.deft, "check", "--case", case, "--out", os.path.join(tmp, "o.npy"),
                            "--lse", os.path.join(tmp, "lse.npy")])
        return r.returncode


if __name__ == "__main__":
    sys.exit(main())
