"Every notebook runs as a test, in quick mode (IN_TEST=1), exactly as `nbdev-test` runs it."
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook  # renamed so that pytest does not collect it

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))


def test_notebooks_found():
    assert len(NOTEBOOKS) >= 6, NOTEBOOKS


@pytest.fixture
def registries_kept():
    "A notebook re-registers (and lesson 33 extends) models, trainers and commands as it runs in this process: put the package's back."
    from genlearn.learner import MODELS, import_all_modules
    from genlearn.cli import COMMANDS, TRAINERS
    import_all_modules()  # the package's own registrations, before a notebook remakes them
    registries = [(r, dict(r)) for r in (MODELS, COMMANDS, TRAINERS)]
    specs = [(s, {k: dict(v) if isinstance(v, dict) else v for k, v in vars(s).items()}) for s in MODELS.values()]
    yield
    for r, entries in registries: r.clear(); r.update(entries)
    for s, fields in specs: vars(s).clear(); vars(s).update(fields)


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.name)
def test_notebook(nb, registries_kept):
    flags = get_config(ROOT).tst_flags
    ok, seconds = run_notebook(nb, skip_flags=flags.split() if isinstance(flags, str) else flags, basepath=ROOT)
    assert ok, f'{nb.name} failed (traceback above)'
