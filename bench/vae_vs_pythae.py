"""Time to quality of genlearn's VAE against pythae's `VAE` (a popular PyTorch VAE library), on mnist5k.

Both train on the same 4,000 training digits and validate on the same 1,000 each epoch, with the same latent size,
reconstruction term (Bernoulli: BCE summed over the pixels), batch size, optimizer (Adam) and learning rate, one torch
thread. genlearn trains as `genlearn train vae` does (its default architecture, KL warm-up and number of epochs, 20);
pythae with its default MLP encoder and decoder and its default trainer, for --epochs (10). Each epoch's wall time and
validation -ELBO (nats per image) are recorded; the script prints, per repetition, the time each needs to reach the
other's final validation -ELBO and the ratio genlearn time / pythae time to reach pythae's final -ELBO (target ≤ 1).
It prints, it does not assert. --hidden, --warmup and --fused-adam measure candidate changes to genlearn's defaults.

pythae is optional: `pip install -e ".[bench]"` (or `pip install --no-deps pythae imageio` to keep torch as it is).

    python bench/vae_vs_pythae.py [--reps 3] [--epochs 10] [--genlearn-epochs 20] [--bs 64] [--latent 16]
"""
import argparse, statistics, sys, tempfile, time
from functools import partial

import torch

import genlearn  # first: its warning filters must be in place before fastai is imported
from fastai.callback.core import Callback
from fastai.optimizer import OptimWrapper

from genlearn.core import set_seed
from genlearn.data import load_images, reconstruction_dls
from genlearn.learner import build_model, get_model_spec, training_callbacks
from genlearn.vae import vae_learner, KLWarmup

INSTALL = 'pythae is not installed; install the bench extra: pip install -e ".[bench]"  (or: pip install --no-deps pythae imageio)'


class EpochClock(Callback):
    "Wall time since the start of fit at the end of each epoch (validation included)."
    order = 100
    def before_fit(self): self.start, self.times = time.perf_counter(), []
    def after_epoch(self): self.times.append(time.perf_counter() - self.start)


def genlearn_curve(x_train, x_valid, epochs, bs, lr, latent, seed, hidden=None, warmup=None, fused=False):
    "[(seconds, valid -ELBO)] per epoch of genlearn's VAE, trained as `genlearn train vae --codings LATENT` trains it (or with a candidate change)."
    set_seed(seed)
    model = build_model('vae', x_train.shape[1:], codings=latent, **({} if hidden is None else dict(hidden=hidden)))
    clock = EpochClock()
    cbs = training_callbacks('vae') if warmup is None else [KLWarmup(warmup)] if warmup else []
    learn = vae_learner(reconstruction_dls(x_train, x_valid, bs=bs), model, lr=lr, warmup=0, cbs=cbs + [clock])
    if fused: learn.opt_func = partial(OptimWrapper, opt=partial(torch.optim.Adam, fused=True))
    learn.fit_quiet(epochs, lr)
    return [(t, float(row[1])) for t, row in zip(clock.times, learn.recorder.values)]


def pythae_curve(x_train, x_valid, epochs, bs, lr, latent, seed):
    "[(seconds, valid -ELBO)] per epoch of pythae's default VAE and trainer."
    from pythae.data.preprocessors import DataProcessor
    from pythae.models import VAE, VAEConfig
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    class Clock(TrainingCallback):
        def __init__(self): self.start, self.rows = time.perf_counter(), []
        def on_log(self, training_config, logs, **kwargs):
            self.rows.append((time.perf_counter() - self.start, float(logs['eval_epoch_loss'])))

    torch.manual_seed(seed)
    model = VAE(VAEConfig(input_dim=tuple(x_train.shape[1:]), latent_dim=latent, reconstruction_loss='bce'))
    with tempfile.TemporaryDirectory() as out:
        config = BaseTrainerConfig(output_dir=out, num_epochs=epochs, learning_rate=lr, per_device_train_batch_size=bs,
                                   per_device_eval_batch_size=bs, no_cuda=True, seed=seed)
        clock = Clock()
        to_ds = DataProcessor().to_dataset
        trainer = BaseTrainer(model, train_dataset=to_ds(x_train), eval_dataset=to_ds(x_valid), training_config=config, callbacks=[clock])
        clock.start = time.perf_counter()
        trainer.train()
    return clock.rows


def time_to_reach(curve, target):
    "Seconds at the first epoch whose validation -ELBO is ≤ `target` (None if none is)."
    return next((t for t, v in curve if v <= target), None)


def fmt(t): return f"{t:6.2f} s" if t is not None else "   never"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--bs', type=int, default=64, help='batch size of both (default 64, the CLI default)')
    p.add_argument('--latent', type=int, default=16)
    p.add_argument('--genlearn-epochs', type=int, help="epochs of genlearn's VAE (default: the CLI's, `genlearn train vae`)")
    # candidate changes to genlearn's defaults, to measure before proposing them (the defaults are what the CLI uses)
    p.add_argument('--hidden', type=int, nargs='+', help="genlearn's hidden layer sizes (default: the CLI's, `genlearn train vae --help`)")
    p.add_argument('--warmup', type=float, help="genlearn's KL warm-up fraction, 0 for none (default: the CLI's, 0.25)")
    p.add_argument('--fused-adam', action='store_true', help="genlearn trains with PyTorch's fused Adam (same update, one kernel)")
    a = p.parse_args()
    try: import pythae  # noqa: F401
    except ImportError: sys.exit(INSTALL)
    import logging; logging.disable(logging.WARNING)  # pythae logs every epoch
    torch.set_num_threads(1)
    spec = get_model_spec('vae')
    lr, g_epochs, g_hidden = spec.lr, a.genlearn_epochs or spec.epochs, a.hidden or spec.options['hidden'].default
    x_train, _, x_valid, _ = load_images('mnist5k')
    print(f"VAE, latent {a.latent}, BCE, mnist5k {len(x_train)}/{len(x_valid)}, bs {a.bs}, Adam lr {lr}, "
          f"pythae {a.epochs} epochs, genlearn {g_epochs} epochs with hidden layers {' '.join(map(str, g_hidden))}, 1 torch thread")
    changes = [f"{k} {v}" for k, v in (('hidden', a.hidden), ('warm-up', a.warmup)) if v is not None]
    if a.fused_adam: changes.append('fused Adam')
    if changes: print("genlearn with candidate changes: " + ', '.join(changes))
    ratios = []
    for r in range(a.reps):
        runs = [('pythae', pythae_curve), ('genlearn', genlearn_curve)]
        if r % 2: runs.reverse()  # alternate the order so drift in machine load hits both
        g_args = dict(hidden=a.hidden, warmup=a.warmup, fused=a.fused_adam)
        c = {name: fn(x_train, x_valid, g_epochs, a.bs, lr, a.latent, r, **g_args) if name == 'genlearn'
             else fn(x_train, x_valid, a.epochs, a.bs, lr, a.latent, r) for name, fn in runs}
        (tg, vg), (tp, vp) = c['genlearn'][-1], c['pythae'][-1]
        g_to_p, p_to_g = time_to_reach(c['genlearn'], vp), time_to_reach(c['pythae'], vg)
        ratio = g_to_p / tp if g_to_p is not None else float('inf')
        ratios.append(ratio)
        print(f"rep {r + 1}: pythae {vp:.1f} nats in {tp:.2f} s; genlearn {vg:.1f} nats in {tg:.2f} s; "
              f"genlearn reaches pythae's {vp:.1f} in {fmt(g_to_p)}, pythae reaches genlearn's {vg:.1f} in {fmt(p_to_g)}; "
              f"ratio {ratio:.2f}")
    print(f"median ratio genlearn time / pythae time to pythae's final -ELBO over {a.reps} reps: {statistics.median(ratios):.2f} (target ≤ 1)")


if __name__ == '__main__':
    main()
