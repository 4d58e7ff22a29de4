"Time to embed 2,000 + 2,000 28×28 images and compute FID + KID + precision/recall between them (target ≤ 10 s on 2 CPU cores)."
import statistics, time

import numpy as np
import torch

from genlearn.data import load_images
from genlearn.metrics import FEATURE_NETS, embed, feature_net, fid, kid, precision, recall

REPS = 5

def main():
    torch.set_num_threads(2)
    x_train, _, x_valid, _ = load_images('mnist5k')
    real, fake = x_train[:2000], torch.cat([x_valid, x_train[2000:3000]])
    for which in FEATURE_NETS: feature_net('mnist5k', net=which)  # loading the networks is a one-time cost, not measured
    rows = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fr, _ = embed(real); ff, _ = embed(fake)  # clean features and robust probabilities, as `evaluate` uses them
        t1 = time.perf_counter()
        fid(fr, ff)
        t2 = time.perf_counter()
        kid(fr, ff)
        t3 = time.perf_counter()
        precision(fr, ff); recall(fr, ff)
        t4 = time.perf_counter()
        rows.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0))
    med = [statistics.median(c) for c in zip(*rows)]
    print(f"2,000 vs 2,000 images, {REPS} repetitions, torch threads {torch.get_num_threads()}; median seconds:")
    for name, v in zip(['embed (both sets, 2 nets)', 'FID', 'KID (100 subsets of 1000)', 'precision/recall (k=3)', 'total'], med):
        print(f"  {name:<28} {v:7.3f}")
    print(f"total / 10 s target = {med[-1] / 10:.2f}  (all totals: {', '.join(f'{r[-1]:.2f}' for r in rows)})")

if __name__ == '__main__': main()
