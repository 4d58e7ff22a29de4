"Every notebook runs as a test, in quick mode (IN_TEST=1), exactly as `nbdev-test` runs it."
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook  # renamed so that pytest does not collect it

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))


def test_notebooks_found():
    assert len(NOTEBOOKS) >= 6, NOTEBOOKS


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.name)
def test_notebook(nb):
    flags = get_config(ROOT).tst_flags
    ok, seconds = run_notebook(nb, skip_flags=flags.split() if isinstance(flags, str) else flags, basepath=ROOT)
    assert ok, f'{nb.name} failed (traceback above)'
