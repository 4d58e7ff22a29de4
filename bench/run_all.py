"""Run every benchmark in bench/ briefly and print one table: measurement, genlearn's figure, the peer's, the ratio, the target.

Each benchmark runs as its own process with short settings (the figures are medians over the repetitions it runs);
run a benchmark alone with more repetitions for a closing figure. A benchmark whose optional peer is missing
(pythae) gets a row saying how to install it. It prints, it does not assert.

    python bench/run_all.py [--quick]
"""
import argparse, math, re, statistics, subprocess, sys, time
from pathlib import Path

BENCH = Path(__file__).parent
GENLEARN = str(Path(sys.executable).parent/'genlearn')


def run(script, *args):
    "stdout of `python bench/SCRIPT ARGS` (stderr shown if it fails)."
    r = subprocess.run([sys.executable, str(BENCH/script), *map(str, args)], capture_output=True, text=True)
    if r.returncode: print(f"{script} failed:\n{r.stderr[-2000:]}", file=sys.stderr)
    return r.stdout + r.stderr


def numbers(pattern, text):
    "Every match of `pattern` in `text`, as tuples of floats."
    return [tuple(float(g) for g in m) if isinstance(m, tuple) else (float(m),) for m in re.findall(pattern, text)]


def med(rows, i): return statistics.median(r[i] for r in rows) if rows else float('nan')


def cli_startup(reps):
    "Median wall seconds of `genlearn --help` and `genlearn datasets` (the target is 1.5 s on an idle 2-core machine)."
    rows = []
    for argv in (['--help'], ['datasets']):
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            subprocess.run([GENLEARN, *argv], capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        rows.append((f"`genlearn {' '.join(argv)}` wall time (median of {reps})", f"{statistics.median(times):.2f} s", '', '', '≤ 1.5 s'))
    return rows


def throughput(reps, epochs):
    out = run('train_throughput.py', '--reps', reps, '--epochs', epochs)
    rows = numbers(r'hand-written\s+(\d+) samples/s .*?genlearn/fastai\s+(\d+) samples/s .*?ratio ([\d.]+)', out)
    return [(f'stacked-ae training, samples/s (bs 64, {epochs} epochs, median of {reps})', f'{med(rows, 1):.0f}',
             f'{med(rows, 0):.0f} (hand-written loop)', f'{med(rows, 2):.3f}', '≥ 0.95')]


def vae(reps, epochs, genlearn_epochs=None):
    "pythae's VAE for `epochs` against genlearn's for `genlearn_epochs` (default: the CLI's)."
    out = run('vae_vs_pythae.py', '--reps', reps, '--epochs', epochs, *(['--genlearn-epochs', genlearn_epochs] if genlearn_epochs else []))
    if 'pythae is not installed' in out: return [("VAE time to pythae's -ELBO", '', 'pythae missing: pip install -e ".[bench]"', '', '≤ 1')]
    g = re.search(r'genlearn (\d+) epochs with hidden layers ([\d ]+),', out)
    rows = numbers(r'pythae ([\d.]+) nats in ([\d.]+) s; genlearn ([\d.]+) nats in ([\d.]+) s; genlearn reaches \S+ [\d.]+ in +([\d.]+|nan).*?ratio ([\d.]+|inf)',
                   out.replace('never', 'nan'))
    return [(f"VAE latent 16 (genlearn's hidden layers {g.group(2) if g else '?'}), valid -ELBO (nats) after genlearn's {g.group(1) if g else '?'} epochs and pythae's {epochs}, median of {reps}",
             f'{med(rows, 2):.1f} in {med(rows, 3):.2f} s', f'{med(rows, 0):.1f} in {med(rows, 1):.2f} s (pythae VAE)', '', ''),
            ("VAE: time to reach pythae's final -ELBO", 'never' if math.isnan(med(rows, 4)) else f'{med(rows, 4):.2f} s',
             f'{med(rows, 1):.2f} s', f'{med(rows, 5):.2f}', '≤ 1')]


def metrics():
    out = run('bench_metrics.py')
    total = numbers(r'total\s+([\d.]+)', out)
    return [('FID + KID + precision/recall, 2,000 vs 2,000 images (median of 5)', f'{total[0][0]:.2f} s' if total else '?', '', '', '≤ 10 s')]


def dcgan(epochs):
    out = run('bench_dcgan.py', '--epochs', epochs)
    rows = []
    for peer, t, f in re.findall(r'genlearn / (\S+) \(median of \d+\): seconds per epoch ([\d.]+), FID ([\d.]+)', out):
        rows.append((f'DCGAN vs fastai ({peer}), {epochs} epochs: s/epoch ratio, FID ratio', '', '', f'{t} ; FID {f}', 'time ≤ 1, FID < 1'))
    return rows


def ddpm(budget, n):
    "genlearn's DDPM against diffusers' at an equal training budget."
    out = run('ddpm_vs_diffusers.py', '--budget', budget, '--n', n)
    if 'diffusers is not installed' in out: return [('DDPM vs diffusers', '', 'diffusers missing: pip install diffusers', '', 'FID ≤ 1')]
    g, d = (numbers(rf'{name}: (\d+) steps, FID ([\d.]+), sampling ([\d.]+) s per 1,000', out) for name in ('genlearn', 'diffusers'))
    r = numbers(r'median over \d+: FID ratio ([\d.]+)', out)
    return [(f'DDPM after {budget:g} s of training: FID (DDIM 50 steps, n={n}); training steps', f'{med(g, 1):.3f}; {med(g, 0):.0f} steps',
             f'{med(d, 1):.3f}; {med(d, 0):.0f} steps (diffusers UNet2DModel)', f'{r[0][0]:.3f}' if r else '?', '≤ 1'),
            ('DDPM: DDIM-50 sampling, s per 1,000 images', f'{med(g, 2):.1f} s', f'{med(d, 2):.1f} s', f'{med(g, 2) / med(d, 2):.3f}', '')]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='fewer repetitions and epochs, to check that every benchmark runs')
    a = p.parse_args()
    reps, epochs = (1, 1) if a.quick else (3, 5)
    rows = (cli_startup(5) + throughput(1 if a.quick else 9, epochs) + vae(reps, *((2, 2) if a.quick else (10,))) + metrics() + dcgan(1 if a.quick else 3)
            + ddpm(*((30, 200) if a.quick else (600, 1000))))
    head = ('measurement', 'genlearn', 'peer', 'ratio', 'target')
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(5)]
    for r in [head, tuple('-' * w for w in widths)] + rows:
        print(' | '.join(str(c).ljust(w) for c, w in zip(r, widths)))


if __name__ == '__main__':
    main()
