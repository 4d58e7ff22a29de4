"""genlearn's DDPM against diffusers' `UNet2DModel` + `DDPMScheduler`, at an equal budget of CPU seconds, on mnist5k.

Both train on the same 4,000 training digits (pixels in [-1, 1]) with the ε objective on the same linear schedule
(T = 1000), batch 64, one torch thread, an exponential moving average of the weights, for --budget seconds of training
each (alternating which goes first). genlearn trains as `genlearn train ddpm` does (its U-Net, Adam 2e-3, `WeightEMA`);
diffusers with a `UNet2DModel` of about a million parameters (the size its unconditional-training example scales
down to), AdamW 1e-3 and its `EMAModel` with warm-up, in a plain PyTorch loop. Each then draws --n images with
deterministic DDIM, 50 steps ('trailing' spacing, no clipping) and is scored with the course's FID (clean feature
network). It prints the training steps each managed, FID, seconds per 1,000 samples, and the ratios genlearn / diffusers
(target: genlearn's FID ≤ the peer's at equal training time). It prints, it does not assert.

diffusers is optional (the dev extra installs it): `pip install diffusers`.

    python bench/ddpm_vs_diffusers.py [--budget 600] [--n 1000] [--reps 1] [--first-rep 1]

Repetition k seeds both arms with k − 1 and alternates which arm goes first, so repetitions can also run in parallel
processes, one per core (`--first-rep 2 --reps 1` and `--first-rep 3 --reps 1`), and be pooled by hand.
"""
import argparse, statistics, sys, time

import torch
import torch.nn.functional as F

import genlearn  # first: its warning filters must be in place before fastai is imported
from fastai.callback.core import Callback, CancelFitException

from genlearn.core import set_seed, unit_to_signed, signed_to_unit
from genlearn.data import load_images, reconstruction_dls
from genlearn.learner import build_model, training_callbacks
from genlearn.diffusion import diffusion_learner
from genlearn.metrics import evaluate

INSTALL = 'diffusers is not installed: pip install diffusers  (it is in the dev extra)'


class Budget(Callback):
    "Stop fitting after `seconds` of wall time (checked after each batch); count the optimizer steps."
    order = 100
    def __init__(self, seconds): self.seconds = seconds
    def before_fit(self): self.start, self.steps = time.perf_counter(), 0
    def after_batch(self):
        self.steps += 1
        if time.perf_counter() - self.start > self.seconds: raise CancelFitException()


def genlearn_arm(x_train, x_valid, budget, n, seed):
    "Train `ddpm` with the CLI's settings for `budget` seconds; return (steps, DDIM-50 samples, sampling seconds)."
    set_seed(seed)
    model = build_model('ddpm', x_train.shape[1:])
    clock = Budget(budget)
    learn = diffusion_learner(reconstruction_dls(unit_to_signed(x_train), unit_to_signed(x_valid), bs=64), model, lr=2e-3,
                              ema=0, cbs=training_callbacks('ddpm') + [clock])
    learn.fit_quiet(10_000, 2e-3)  # the budget ends it
    start = time.perf_counter()
    x = model.sample(n, seed=0, sampler='ddim', steps=50)
    return clock.steps, x, time.perf_counter() - start


def diffusers_arm(x_train, budget, n, seed):
    "Train a diffusers UNet2DModel with DDPMScheduler for `budget` seconds; return (steps, DDIM-50 samples, sampling seconds)."
    from diffusers import UNet2DModel, DDPMScheduler, DDIMScheduler
    from diffusers.training_utils import EMAModel
    torch.manual_seed(seed)
    unet = UNet2DModel(sample_size=28, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 64, 64),
                       norm_num_groups=8, down_block_types=('DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D'),
                       up_block_types=('AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D'))
    noise_sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule='linear')
    ema = EMAModel(unet.parameters(), decay=0.999, use_ema_warmup=True, inv_gamma=1.0, power=2 / 3)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-3)
    data, steps, start = unit_to_signed(x_train), 0, time.perf_counter()
    while time.perf_counter() - start <= budget:
        for idx in torch.randperm(len(data)).split(64):
            if len(idx) < 64 or time.perf_counter() - start > budget: continue
            x0 = data[idx]
            noise, t = torch.randn_like(x0), torch.randint(0, 1000, (len(x0),))
            loss = F.mse_loss(unet(noise_sched.add_noise(x0, noise, t), t).sample, noise)
            opt.zero_grad(); loss.backward(); opt.step(); ema.step(unet.parameters())
            steps += 1
    ema.copy_to(unet.parameters())
    unet.eval()
    sampler = DDIMScheduler(num_train_timesteps=1000, beta_schedule='linear', clip_sample=False, timestep_spacing='trailing')
    sampler.set_timesteps(50)
    start, out = time.perf_counter(), []
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i in range(0, n, 500):
            x = torch.randn(min(500, n - i), 1, 28, 28, generator=g)
            for t in sampler.timesteps: x = sampler.step(unet(x, t).sample, t, x).prev_sample
            out.append(signed_to_unit(x).clamp(0, 1))
    return steps, torch.cat(out), time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--budget', type=float, default=600, help='training seconds per library (default 600)')
    p.add_argument('--n', type=int, default=1000, help='samples scored per library (default 1000)')
    p.add_argument('--reps', type=int, default=1, help='repetitions (default 1)')
    p.add_argument('--first-rep', type=int, default=1, help='number of the first repetition, ≥ 1 (default 1)')
    args = p.parse_args()
    if args.reps < 1 or args.first_rep < 1: p.error('--reps and --first-rep must be at least 1')
    try: import diffusers  # noqa: F401
    except ImportError: sys.exit(INSTALL)
    torch.set_num_threads(1)
    x_train, _, x_valid, _ = load_images('mnist5k')
    rows = []
    print(f"training budget {args.budget:g} s each, DDIM 50 steps, n = {args.n}, one torch thread")
    for rep in range(args.first_rep - 1, args.first_rep - 1 + args.reps):
        arms = [('genlearn', lambda: genlearn_arm(x_train, x_valid, args.budget, args.n, rep)),
                ('diffusers', lambda: diffusers_arm(x_train, args.budget, args.n, rep))]
        result = {}
        for name, arm in (arms if rep % 2 == 0 else arms[::-1]):
            steps, x, seconds = arm()
            result[name] = (steps, evaluate(x, n=args.n, floor=False)['fid'], seconds / args.n * 1000)
            print(f"rep {rep + 1} {name:>9}: {steps} steps, FID {result[name][1]:.3f}, sampling {result[name][2]:.1f} s per 1,000", flush=True)
        (gs, gf, gt), (ds, df, dt) = result['genlearn'], result['diffusers']
        rows.append((gf / df, gs / ds, gt / dt))
        print(f"rep {rep + 1}: FID ratio genlearn/diffusers {gf / df:.3f}; training steps ratio {gs / ds:.3f}; sampling time ratio {gt / dt:.3f}")
    med = lambda i: statistics.median(r[i] for r in rows)
    print(f"median over {args.reps}: FID ratio {med(0):.3f} (target ≤ 1); training steps ratio {med(1):.3f}; sampling time ratio {med(2):.3f}")


if __name__ == '__main__':
    main()
