"""genlearn's DCGAN against fastai's own GANLearner with `basic_generator`/`basic_critic`, on mnist5k.

Both train on the same 4,000 training digits with the same noise data loader (`gan_dls`, 100 noise values), batch size,
number of epochs, learning rate and optimizer (Adam, β1 = 0.5, no weight decay: `gan_adam`), and the same game (binary
cross-entropy on logits, one critic step then one generator step). fastai's networks work in powers of two, so its
digits are padded with background to 32×32 and its samples are cropped back to 28×28 for the evaluation. fastai keeps
its other defaults (`GANTrainer` with one shared optimizer) and runs twice: with `GANLearner`'s default `switch_eval=True`
(the idle network in eval mode while it judges or makes the other's inputs), and with `switch_eval=False`, under which
its batch-norm networks train (with the default they collapse here). Each side validates once per epoch.

Printed per run: seconds per epoch (training and validation) and FID (genlearn's clean feature network, n samples from
each generator in evaluation mode against n real training digits), then the median ratios genlearn / fastai
(time < 1: genlearn is faster; FID < 1: genlearn's samples are closer to the data). It prints, it does not assert.

    python bench/bench_dcgan.py [--epochs 3] [--reps 1] [--bs 32] [--lr LR] [--n 1000]
"""
import argparse, statistics, time

import torch
import torch.nn.functional as F

import genlearn  # first: its warning filters must be in place before fastai is imported
from fastai.vision.gan import GANLearner, basic_critic, basic_generator, gan_loss_from_func

from genlearn.core import set_seed, unit_to_signed
from genlearn.data import load_images
from genlearn.gan import GAN, gan_adam, gan_dls, gan_learner
from genlearn.learner import build_model, get_model_spec
from genlearn.metrics import evaluate

NOISE = 100


def bce(logits, target): return F.binary_cross_entropy_with_logits(logits.view(-1), target)  # basic_critic gives N×1 logits


def fit_seconds(learn, epochs, lr):
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs, lr)
    return (time.perf_counter() - start) / epochs


def genlearn_run(x_train, x_valid, epochs, bs, lr, n, seed):
    set_seed(seed)
    model = build_model('dcgan', (1, 28, 28), noise_size=NOISE)
    learn = gan_learner(gan_dls(unit_to_signed(x_train), unit_to_signed(x_valid), noise_size=NOISE, bs=bs), model, lr=lr)
    seconds = fit_seconds(learn, epochs, lr)
    return seconds, evaluate(model.sample(n, seed=1), n=n, floor=False)['fid']


def fastai_run(x_train, x_valid, epochs, bs, lr, n, seed, switch_eval=True):
    set_seed(seed)
    pad = lambda x: F.pad(unit_to_signed(x), (2, 2, 2, 2), value=-1.)  # background is -1 in the generator's range
    generator, critic = basic_generator(32, 1, in_sz=NOISE), basic_critic(32, 1)
    learn = GANLearner(gan_dls(pad(x_train), pad(x_valid), noise_size=NOISE, bs=bs), generator, critic,
                       *gan_loss_from_func(lambda output, target: output.new_zeros(()), bce), opt_func=gan_adam, lr=lr,
                       switch_eval=switch_eval)
    seconds = fit_seconds(learn, epochs, lr)
    samples = GAN(generator, critic, NOISE).sample(n, seed=1)[:, :, 2:30, 2:30]  # eval mode, [0, 1], cropped to 28×28
    return seconds, evaluate(samples, n=n, floor=False)['fid']


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--reps', type=int, default=1, help='runs of each, alternating')
    p.add_argument('--bs', type=int, default=32, help='batch size (default 32, as in lesson 31)')
    p.add_argument('--lr', type=float, default=None, help="default: the dcgan model's")
    p.add_argument('--n', type=int, default=1000, help='samples for FID')
    args = p.parse_args()
    torch.set_num_threads(1)
    lr = args.lr or get_model_spec('dcgan').lr
    x_train, _, x_valid, _ = load_images('mnist5k')
    print(f"mnist5k, {len(x_train)} training digits, {args.epochs} epochs, bs {args.bs}, lr {lr:g}, FID on n = {args.n}, "
          f"torch threads {torch.get_num_threads()}")
    size = lambda m: f"{sum(p.numel() for p in m.parameters()):,}"
    ours = build_model('dcgan', (1, 28, 28), noise_size=NOISE)
    print(f"parameters (generator, critic): genlearn {size(ours.generator)}, {size(ours.critic)}; "
          f"fastai {size(basic_generator(32, 1, in_sz=NOISE))}, {size(basic_critic(32, 1))}")
    runs = {'genlearn': [], 'fastai': [], 'fastai, switch_eval=False': []}
    for rep in range(args.reps):
        runs['genlearn'].append(genlearn_run(x_train, x_valid, args.epochs, args.bs, lr, args.n, seed=rep))
        runs['fastai'].append(fastai_run(x_train, x_valid, args.epochs, args.bs, lr, args.n, seed=rep))
        runs['fastai, switch_eval=False'].append(fastai_run(x_train, x_valid, args.epochs, args.bs, lr, args.n, seed=rep, switch_eval=False))
        print(f"run {rep + 1}: " + '; '.join(f"{k} {v[-1][0]:.2f} s/epoch, FID {v[-1][1]:.2f}" for k, v in runs.items()))
    for k in ('fastai', 'fastai, switch_eval=False'):
        time_ratio, fid_ratio = (statistics.median(g[i] / f[i] for g, f in zip(runs['genlearn'], runs[k])) for i in (0, 1))
        print(f"genlearn / {k} (median of {args.reps}): seconds per epoch {time_ratio:.2f}, FID {fid_ratio:.2f}")


if __name__ == '__main__': main()
