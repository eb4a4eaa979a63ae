"""Checks on how much memory a run takes.

Memory is measured in a run of its own (tracemalloc slows every allocation
down, so the timed run stays untraced). Message templates are module
constants so that tests and reporters refer to them instead of retyping them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.checks.base import Check, Evaluation, Verdict, register
from grader.results import Evidence

if TYPE_CHECKING:
    from grader.execution.run import RunRecord

# -- messages -----------------------------------------------------------------
MEMORY_OK = "peak memory {observed:.1f} MiB (at most {bound:g} MiB allowed)"
TOO_MUCH_MEMORY = "peak memory {observed:.1f} MiB; at most {bound:g} MiB allowed"
NO_MEMORY_RUN = "peak memory could not be measured: {reason}"
#: Added to the message when the starter's peak on the same data is known.
STARTER_PEAK = " · the starter peaks at {starter:.1f} MiB"
STARTER_LABEL = "the starter"

MIB = 1024 * 1024


def mebibytes(size: int | None) -> float:
    """Bytes as MiB (0 for None)."""
    return (size or 0) / MIB


def _largest_fetch(run: RunRecord) -> Evidence | None:
    fetched = [s for s in run.log.statements if s.rows_fetched]
    if not fetched:
        return None
    biggest = max(fetched, key=lambda s: s.rows_fetched or 0)
    sql = " ".join(biggest.sql.split())
    return Evidence(
        f"statement fetching the most rows ({biggest.rows_fetched})",
        sql if len(sql) <= 400 else sql[:399] + "…",
    )


@register
class PeakMemory(Check):
    """The run's peak Python memory stays under ``max_mib``.

    A result loaded with ``.all()`` is held in memory at once: its size grows
    with the table, until the process is killed. Streaming the rows in
    batches (``yield_per``, ``partitions``, ``stream_results``) keeps the peak
    at one batch, whatever the size of the table. The peak is traced with
    tracemalloc during the call, in a run of its own. Option: ``max_mib``.
    """

    kind = "peak_memory"
    needs = frozenset({"memory"})
    default_hint = (
        "Where are all the rows at once? Fetch and write them a batch at a time, "
        "so that only one batch is in memory."
    )

    def configure(self) -> None:
        self.bound: float = float(self.option("max_mib", (int, float)))

    def judge(self, evaluation: Evaluation) -> Verdict:
        from grader.execution.run import RunRecord

        run = evaluation.extra.get("memory")
        if not isinstance(run, RunRecord):
            return Verdict(False, NO_MEMORY_RUN.format(reason="no memory run was made"))
        if run.failure is not None or run.peak_memory is None:
            reason = run.failure.message if run.failure else "the run reported no peak"
            return Verdict(False, NO_MEMORY_RUN.format(reason=reason))
        observed = mebibytes(run.peak_memory)
        evidence = [Evidence("measured", f"{observed:.1f} MiB peak (bound {self.bound:g} MiB)")]
        starter = evaluation.extra.get("oracle_memory")
        beside = ""
        if isinstance(starter, RunRecord) and starter.peak_memory is not None:
            beside = STARTER_PEAK.format(starter=mebibytes(starter.peak_memory))
            evidence.append(
                Evidence(STARTER_LABEL, f"{mebibytes(starter.peak_memory):.1f} MiB peak")
            )
        if observed <= self.bound:
            message = MEMORY_OK.format(observed=observed, bound=self.bound)
            return Verdict(True, message + beside, tuple(evidence))
        fetch = _largest_fetch(run)
        if fetch is not None:
            evidence.append(fetch)
        message = TOO_MUCH_MEMORY.format(observed=observed, bound=self.bound)
        return Verdict(False, message + beside, tuple(evidence))
