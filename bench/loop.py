"""The edit-grade loop as a student meets it: each command a fresh process, timed from outside.

Prints the wall-clock seconds (median of the repeats, and the fastest) of

- ``ormgrade --help`` and ``ormgrade list`` (aim: at most 0.3 s),
- ``ormgrade grade filter_limit`` from a warm template cache (the seed's template
  already built; aim: at most 1.0 s) and with a fresh seed (the template built too),
- ``ormgrade grade --submission solutions``: the whole catalog on SQLite, warm
  (aim: at most 8 s),

and which heavy libraries ``ormgrade list`` imports (none is the aim), with the
load average before and after: on a shared machine the figures move with it.

``--baseline DIR`` runs every command of the same figures also with the grader
of another checkout (``git worktree add DIR <commit>``), alternately with this
one, so that both see the same load: the ratio is the figure to read then.
The default ``pytest`` run is timed by hand (see bench/README.md).

    python bench/loop.py [--repeat N] [--catalog-repeat N] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = "20241125"
#: Modules `ormgrade list` must not import.
HEAVY = ("sqlalchemy", "alembic", "nbformat", "celery", "grader.migrations")
TARGETS = {"help": 0.3, "list": 0.3, "filter_limit warm": 1.0, "catalog warm": 8.0}


@dataclass
class Checkout:
    """A grader to time: its folder (catalog and code) and its label."""

    label: str
    root: Path
    times: dict[str, list[float]] = field(default_factory=dict)

    def env(self, cache: Path) -> dict[str, str]:
        env = dict(os.environ, ORMGRADE_CACHE=str(cache))
        # The other checkout's code first on the path: the installed grader is this one.
        if self.root != ROOT:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(self.root), env.get("PYTHONPATH")])
            )
        return env

    def run(self, name: str, args: Sequence[str], cache: Path, record: bool = True) -> float:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "grader", *args],
            cwd=self.root,
            env=self.env(cache),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        if done.returncode not in (0, 1):
            raise SystemExit(f"{self.label}: ormgrade {' '.join(args)} failed:\n{done.stdout}")
        if record:
            self.times.setdefault(name, []).append(seconds)
        return seconds

    def heavy_imports(self, cache: Path) -> list[str]:
        script = (
            "import json, sys\nfrom grader.cli import main\n"
            "try:\n    main(['list'])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)))"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=self.root,
            env=self.env(cache),
            capture_output=True,
            text=True,
            check=True,
        )
        loaded = json.loads(done.stdout.splitlines()[-1])
        return [h for h in HEAVY if any(f"{m}.".startswith(f"{h}.") for m in loaded)]


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7, help="runs of each short command")
    parser.add_argument("--catalog-repeat", type=int, default=3, help="runs of the whole catalog")
    parser.add_argument("--baseline", type=Path, help="another checkout to time alongside")
    args = parser.parse_args(argv)
    checkouts = [Checkout("this", ROOT)]
    if args.baseline is not None:
        checkouts.insert(0, Checkout("baseline", args.baseline.resolve()))
    cache = Path(tempfile.mkdtemp(prefix="ormgrade-loop-cache-"))
    print(f"{os.cpu_count()} cores · load average {load()} before")
    try:
        for checkout in checkouts:  # the warm cache: this seed's templates built once
            checkout.run("", ["grade", "--submission", "solutions", "--seed", SEED], cache, False)
        for _ in range(args.repeat):
            for checkout in checkouts:
                checkout.run("help", ["--help"], cache)
                checkout.run("list", ["list"], cache)
                checkout.run(
                    "filter_limit warm",
                    ["grade", "filter_limit", "--submission", "solutions", "--seed", SEED],
                    cache,
                )
        for _ in range(max(1, args.repeat // 3)):
            for checkout in checkouts:
                checkout.run(
                    "filter_limit fresh seed",
                    ["grade", "filter_limit", "--submission", "solutions"],
                    cache,
                )
        for _ in range(args.catalog_repeat):
            for checkout in checkouts:
                checkout.run(
                    "catalog warm", ["grade", "--submission", "solutions", "--seed", SEED], cache
                )
        print(f"load average {load()} after\n")
        names = list(checkouts[-1].times)
        header = f"{'command':<26}" + "".join(
            f"{c.label + ' median':>16}{c.label + ' best':>14}" for c in checkouts
        )
        if len(checkouts) == 2:
            header += f"{'ratio':>8}"
        print(header + f"{'aim':>8}")
        for name in names:
            line = f"{name:<26}"
            medians = []
            for checkout in checkouts:
                runs = checkout.times[name]
                medians.append(statistics.median(runs))
                line += f"{medians[-1]:>14.3f} s{min(runs):>12.3f} s"
            if len(checkouts) == 2:
                line += f"{medians[1] / medians[0]:>8.2f}"
            aim = TARGETS.get(name)
            line += f"{'≤ ' + format(aim, 'g') + ' s' if aim else '':>8}"
            print(line)
        print()
        for checkout in checkouts:
            heavy = checkout.heavy_imports(cache)
            print(
                f"{checkout.label}: `ormgrade list` imports {', '.join(heavy) or 'none of'} "
                f"{'' if heavy else ', '.join(HEAVY)}".rstrip()
            )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
