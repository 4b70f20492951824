"""Prime factorisation by trial division: honest CPU work for the process-pool lessons.

Trial division costs O(√n) steps for a prime n, so the work grows with the numbers and is
done entirely in Python bytecode, holding the GIL: threads cannot speed it up, processes can.
"""

from __future__ import annotations

from typing import Callable

LIMIT = 10**12  # √LIMIT = 10**6 divisions at most per number: well under a second


def factorize(n: int) -> list[int]:
    """Prime factors of ``n`` ≥ 0 in ascending order, with repetition (0 and 1 have none)."""
    if n < 0 or n > LIMIT:
        raise ValueError(f"{n} is outside 0..{LIMIT}")
    factors: list[int] = []
    while n > 1 and n % 2 == 0:
        factors.append(2)
        n //= 2
    divisor = 3
    while divisor * divisor <= n:
        while n % divisor == 0:
            factors.append(divisor)
            n //= divisor
        divisor += 2
    if n > 1:
        factors.append(n)
    return factors


def factorize_range(start: int, count: int, stop: Callable[[], bool] = lambda: False) -> dict[str, int]:
    """Factorise ``count`` consecutive integers from ``start``; a summary, not every factor list.

    ``stop`` is polled between numbers so a cancelled step ends early; ``done`` says how far it got.
    """
    primes = factors = done = 0
    for n in range(start, start + count):
        if stop():
            break
        found = factorize(n)
        factors += len(found)
        primes += len(found) == 1
        done += 1
    return {"start": start, "count": count, "done": done, "primes": primes, "factors": factors}
