"Run the `genlearn` console script as a user would, for the end-to-end tests."
import os, subprocess, sys
from pathlib import Path

GENLEARN = str(Path(sys.executable).parent/'genlearn')  # the console script that `pip install` made


def genlearn(*args, cwd=None, timeout=600):
    "Run `genlearn ARGS...` in a subprocess (full mode: IN_TEST unset); return the CompletedProcess."
    env = {**os.environ, 'MPLBACKEND': 'Agg'}
    env.pop('IN_TEST', None)
    return subprocess.run([GENLEARN, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def exit_status(argv) -> int:
    "What `genlearn ARGV` exits with when run in this process, whether argparse stops it or the command returns."
    from genlearn.cli import main
    try: return main(argv)
    except SystemExit as e: return e.code
