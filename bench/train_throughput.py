"""Training throughput: genlearn's fastai training of the stacked autoencoder vs a hand-written PyTorch loop.

Both train the same model (`stacked-ae` as the CLI builds it), on the same mnist5k split, with the same
batch size, optimizer (torch.optim.Adam), learning rate and number of epochs, each validating once per
epoch, on one torch thread. The two are run alternately, several times, in one process; the script prints samples per second
for each run and the median ratio fastai / hand-written (1.0 = no overhead). It prints, it does not assert.

    python bench/train_throughput.py [--reps 5] [--epochs 5] [--bs 64]
"""
import argparse, statistics, time

import torch
import torch.nn.functional as F

from genlearn.core import set_seed
from genlearn.data import load_images, reconstruction_dls
from genlearn.learner import build_model, ae_learner, get_model_spec


def hand_written(x_train, x_valid, epochs, bs, lr, seed):
    "A plain PyTorch loop: shuffle, slice, forward, loss, backward, step; validate each epoch."
    set_seed(seed)
    model = build_model('stacked-ae', x_train.shape[1:])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_train))
        train_loss = torch.zeros(())
        for i in range(0, len(order) - bs + 1, bs):  # drop the last partial batch, as the fastai loader does
            xb = x_train[order[i:i + bs]]
            loss = F.mse_loss(model(xb), xb)
            loss.backward()
            opt.step()
            opt.zero_grad()
            train_loss += loss.detach()
        model.eval()
        with torch.no_grad():
            valid_loss = sum(F.mse_loss(model(x_valid[i:i + 2 * bs]), x_valid[i:i + 2 * bs], reduction='sum')
                             for i in range(0, len(x_valid), 2 * bs)) / x_valid.numel()
    return time.perf_counter() - start, float(valid_loss)


def genlearn_fastai(x_train, x_valid, epochs, bs, lr, seed):
    "What `genlearn train stacked-ae` does: ae_learner + learn.fit, progress bar and logging off."
    set_seed(seed)
    model = build_model('stacked-ae', x_train.shape[1:])
    learn = ae_learner(reconstruction_dls(x_train, x_valid, bs=bs), model, lr=lr)
    start = time.perf_counter()
    learn.fit_quiet(epochs, lr)
    return time.perf_counter() - start, float(learn.recorder.values[-1][1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--reps', type=int, default=5)
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--bs', type=int, default=64)
    a = p.parse_args()
    torch.set_num_threads(1)  # both arms on one thread, as genlearn's lessons run
    lr = get_model_spec('stacked-ae').lr
    x_train, _, x_valid, _ = load_images('mnist5k')
    n = (len(x_train) // a.bs) * a.bs * a.epochs
    print(f"stacked-ae on mnist5k: {len(x_train)} train / {len(x_valid)} valid, bs {a.bs}, {a.epochs} epochs, "
          f"Adam lr {lr}, torch threads {torch.get_num_threads()}")
    genlearn_fastai(x_train, x_valid, 1, a.bs, lr, 0)  # warm-up: imports, allocator, first-call costs
    hand_written(x_train, x_valid, 1, a.bs, lr, 0)
    ratios = []
    for r in range(a.reps):
        runs = [('hand', hand_written), ('fastai', genlearn_fastai)]
        if r % 2: runs.reverse()  # alternate the order so drift in machine load hits both
        res = {name: fn(x_train, x_valid, a.epochs, a.bs, lr, r) for name, fn in runs}
        (th, vh), (tf, vf) = res['hand'], res['fastai']
        ratios.append(th / tf)
        print(f"rep {r + 1}: hand-written {n / th:8.0f} samples/s (valid MSE {vh:.4f})   "
              f"genlearn/fastai {n / tf:8.0f} samples/s (valid MSE {vf:.4f})   ratio {th / tf:.3f}")
    print(f"median ratio genlearn-fastai / hand-written over {a.reps} reps: {statistics.median(ratios):.3f}")


if __name__ == '__main__':
    main()
