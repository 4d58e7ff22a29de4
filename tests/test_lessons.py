"""The notebooks as a reader sees them: frontmatter nbdev applies, cells nbdev-docs can run, numbers in the prose
that the notebook computed, and outputs free of warnings, temporary paths and oversized figures."""
import ast, base64, json, re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
LESSONS = [p for p in NOTEBOOKS if p.name[:2].isdigit()]

# Decimals the prose may quote without computing them: figures cited from the papers and the book. Parameters the
# reader sets (learning rates, noise levels, ...) appear in the code cells, which the check reads too.
QUOTED = {'50_diffusion.ipynb': {'0.9999'}}  # numbers the prose quotes from a paper (Ho et al.'s EMA decay)


def cells(nb): return json.loads(nb.read_text())['cells']
def source(c): return ''.join(c['source'])


def output_text(c):
    "Everything a code cell printed or displayed as text."
    parts = []
    for o in c.get('outputs', []):
        if 'text' in o: parts.append(''.join(o['text']))
        for kind in ('text/plain', 'text/markdown', 'text/html'):
            if kind in o.get('data', {}): parts.append(''.join(o['data'][kind]))
    return '\n'.join(parts)


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.name)
def test_frontmatter_is_a_raw_cell(nb):
    first = cells(nb)[0]
    assert first['cell_type'] == 'raw' and source(first).startswith('---'), \
        f'{nb.name}: the title and description must sit in a raw cell at the top (nbdev ignores markdown frontmatter)'
    assert re.search(r'^title: .+$', source(first), re.M), f'{nb.name}: frontmatter has no title'


def _mixes_imports(src):
    "True when a cell holds top-level imports next to other statements (nbdev-docs runs import cells on their own)."
    try: tree = ast.parse('\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!'))))
    except SyntaxError: return False
    kinds = {isinstance(t, (ast.Import, ast.ImportFrom)) for t in tree.body}
    return kinds == {True, False}


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.name)
def test_import_cells_hold_only_imports(nb):
    bad = [source(c)[:80] for c in cells(nb) if c['cell_type'] == 'code'
           and '#| export' not in source(c) and _mixes_imports(source(c))]
    assert not bad, f'{nb.name}: give imports their own cell: {bad}'


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.name)
def test_one_show_doc_per_cell(nb):
    bad = [source(c)[:80] for c in cells(nb) if c['cell_type'] == 'code' and source(c).count('show_doc(') > 1]
    assert not bad, f'{nb.name}: only the last show_doc of a cell is displayed; use one cell each: {bad}'


def _numbers(text):
    "The decimal numbers in markdown `text`, outside math, code spans and link targets."
    text = re.sub(r'\$\$.*?\$\$|\$[^$\n]*\$', ' ', text, flags=re.S)
    text = re.sub(r'`[^`]*`', ' ', text)
    text = re.sub(r'\]\([^)]*\)', ']', text)  # link targets
    return {m for m in re.findall(r'(?<![\w.,])\d+\.\d+(?![\d])', text)}


def _canonical(num): return num.rstrip('0').rstrip('.') if '.' in num else num


@pytest.mark.parametrize('nb', LESSONS + [ROOT/'nbs'/'index.ipynb'], ids=lambda p: p.name)
def test_prose_numbers_are_computed(nb):
    "Every decimal number in the prose appears in an output of the same notebook, or in its code."
    cs = cells(nb)
    prose = '\n'.join(source(c) for c in cs if c['cell_type'] == 'markdown')
    computed = '\n'.join(output_text(c) + '\n' + source(c) for c in cs if c['cell_type'] == 'code')
    found = {_canonical(n) for n in re.findall(r'\d+\.\d+', computed)} | set(re.findall(r'\d+\.\d+', computed))
    missing = sorted(n for n in _numbers(prose) if n not in found and _canonical(n) not in found
                     and n not in QUOTED.get(nb.name, set()))
    assert not missing, f'{nb.name}: these numbers in the prose appear in no output or code of the notebook: {missing}'


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_clean(nb):
    for c in cells(nb):
        for o in c.get('outputs', []):
            assert o['output_type'] != 'error', f'{nb.name}: committed error output'
            text = ''.join(o.get('text', '')) if o['output_type'] == 'stream' else ''
            assert not (o.get('name') == 'stderr' and re.search(r'Warning|warn\(', text)), \
                f'{nb.name}: a warning shows in the outputs: {text[:200]}'
        assert not re.search(r'/tmp/|tmp[a-z0-9_]{8}', output_text(c)), \
            f'{nb.name}: a temporary path shows in the outputs: {source(c)[:80]}'


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.name)
def test_figures_are_small(nb):
    for c in cells(nb):
        for o in c.get('outputs', []):
            png = o.get('data', {}).get('image/png')
            if png: assert len(base64.b64decode(''.join(png))) <= 60_000, f'{nb.name}: a figure over 60 KB in {source(c)[:80]}'
