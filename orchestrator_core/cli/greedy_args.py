"""``--only a b c``: the words after a greedy option belong to it, rewritten to the form click reads.

Click-free, so the ``run`` command of click (:class:`~orchestrator_core.cli.common.GreedyCommand`)
and the plain path of ``orch run`` read such a command line the same way.
"""

from __future__ import annotations

from typing import Collection, Sequence

GREEDY = ("--only", "--skip")


def spread_greedy(args: Sequence[str], takes_value: Collection[str]) -> list[str]:
    """``--only a b`` -> ``--only a --only b``; with no recipe given otherwise, the last such word is the recipe.

    ``takes_value``: the options that take a value (their value is no positional word),
    so ``orch run --only a b RECIPE`` runs RECIPE while ``orch run RECIPE --only a b`` does too.
    """
    rewritten: list[str] = []
    last: tuple[str, int] | None = None
    current: str | None = None
    for arg in args:
        if arg in GREEDY:
            current = arg
            continue
        if current and not arg.startswith("-"):
            rewritten += [current, arg]
            last = (current, len(rewritten) - 1)
            continue
        if current and arg.startswith("-") and rewritten[-2:-1] != [current]:
            rewritten.append(current)  # a greedy option with no words: let click complain
        current = None
        rewritten.append(arg)
    if current and (not rewritten or rewritten[-2:-1] != [current]):
        rewritten.append(current)
    if last and not has_positional(rewritten, takes_value) and "--recipe" not in rewritten:
        index = last[1]
        recipe = rewritten[index]
        del rewritten[index - 1:index + 1]
        rewritten.append(recipe)
    return rewritten


def has_positional(args: Sequence[str], takes_value: Collection[str]) -> bool:
    """Whether ``args`` holds a positional word (not an option or an option's value)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            skip = arg in takes_value
            continue
        return True
    return False
