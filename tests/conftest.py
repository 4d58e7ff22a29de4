import os

# pytest-xdist runs two workers on two cores: one thread each, or the workers' thread pools fight
# (small trainings then run many times slower). Set before torch is imported; subprocesses inherit it.
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')

import torch  # noqa: E402

torch.set_num_threads(1)
