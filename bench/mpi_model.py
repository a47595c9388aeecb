"""Data-parallel step time and efficiency on paper, from what bench/mpi.sh measured here.

A node is modelled as the machine measured (one rank, all its cores); the gradients go round a
ring all-reduce (what MPI uses for large messages): each node sends and receives
2(N-1)/N x S bytes and waits 2(N-1) link latencies. fastburn starts the all-reduce after the
backward pass (Burn's backward returns every gradient at once), so a step costs compute plus
communication; a DDP-style overlap would cost the larger of the two, and communication hides
behind compute once a node's share of the batch takes as long to compute as the all-reduce.
"""

import argparse
import math


def seconds(text: str) -> float:
    """fastai's epoch time column: mm:ss or h:mm:ss."""
    parts = [int(p) for p in text.split(":")]
    total = 0
    for p in parts:
        total = total * 60 + p
    return float(total)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epoch-1x1", required=True, help="epoch time, 1 process x 1 thread")
    ap.add_argument("--epoch-1x2", required=True, help="epoch time, 1 process x 2 threads")
    ap.add_argument("--epoch-2x1", required=True, help="epoch time, 2 ranks x 1 thread")
    ap.add_argument("--images", type=int, required=True, help="training images an epoch")
    ap.add_argument("--grad-mb", type=float, required=True, help="gradient MB a step")
    ap.add_argument("--bs", type=int, default=64)
    a = ap.parse_args()

    e11, e12, e21 = seconds(a.epoch_1x1), seconds(a.epoch_1x2), seconds(a.epoch_2x1)
    steps = math.ceil(a.images / a.bs)
    node = e12 / a.images  # seconds of compute per image on one node (this machine, 2 threads)
    grad = a.grad_mb * 1e6
    print()
    print(f"measured here: epoch 1x1 {e11:.0f} s, 1x2 {e12:.0f} s, 2x1 {e21:.0f} s "
          f"({steps} steps of {a.bs}); 2 ranks x 1 thread run at {e12 / e21:.2f}x the speed of "
          f"1 process x 2 threads")
    overhead = (e21 - e11 / 2) / steps
    print(f"all-reduce between 2 ranks on one machine (shared memory), by difference: "
          f"{overhead * 1e3:.0f} ms a step (2x1 epoch minus half the 1x1 epoch, per step)")
    print(f"bytes a step: {grad / 1e6:.1f} MB of f32 gradients per rank; a ring all-reduce "
          f"sends 2(N-1)/N of that from each rank: {grad / 1e6:.1f} MB at N=2, "
          f"{2 * grad / 1e6:.1f} MB as N grows")
    print(f"compute: {node * 1e3:.2f} ms an image on one node (1x2 epoch / images)")
    print()
    links = [("10 Gb/s", 10e9 / 8, 20e-6), ("100 Gb/s", 100e9 / 8, 5e-6)]
    print("| nodes | network | all-reduce | global batch 64: step (no overlap / overlap), "
          "efficiency | batch 64 a node: step, efficiency | per-node batch that hides it |")
    print("|---|---|---|---|---|---|")
    for n in (4, 16, 64):
        for name, bw, lat in links:
            comm = 2 * (n - 1) / n * grad / bw + 2 * (n - 1) * lat
            # strong scaling: global batch 64 split over n nodes
            c = a.bs / n * node
            t_seq, t_ovl = c + comm, max(c, comm)
            eff = (a.bs * node) / (n * t_seq)
            # weak scaling: 64 images a node
            cw = a.bs * node
            effw = cw / (cw + comm)
            hide = math.ceil(comm / node)
            print(f"| {n} | {name} ({lat * 1e6:.0f} us) | {comm * 1e3:.0f} ms | "
                  f"{t_seq * 1e3:.0f} / {t_ovl * 1e3:.0f} ms, {eff:.0%} | "
                  f"{(cw + comm) * 1e3:.0f} ms, {effw:.0%} | {hide} |")


if __name__ == "__main__":
    main()
