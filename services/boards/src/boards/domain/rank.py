"""Sortable rank strings (fractional indexing) for the order of lists and tasks.

A rank is an opaque ASCII string; comparing two ranks byte-wise (``str`` comparison in
Python, ``COLLATE "C"`` in PostgreSQL, code-unit comparison in JavaScript) gives their order.
Between any two ranks there is always room for another, so placing an item writes only that
item's row, whatever the length of the list.

The format is the one of rocicorp's *fractional-indexing* (base 62): a variable-length
"integer" part whose first character encodes its length (``a0`` ... ``az``, ``b00`` ...),
followed by an optional fraction without trailing zeros. Appending at the end increments the
integer part, so n appends make keys of O(log n) characters; repeated inserts into the same
gap grow the fraction by about one character per six inserts, which is what background
rebalancing (:func:`spread`) resets.
"""

from __future__ import annotations

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ZERO = DIGITS[0]
_INDEX = {c: i for i, c in enumerate(DIGITS)}
# The smallest integer part; a key may not be exactly this (nothing could sort before it).
_SMALLEST_INTEGER = "A" + _ZERO * 26


class RankError(ValueError):
    """A malformed rank, or bounds in the wrong order."""


def _integer_length(head: str) -> int:
    if "a" <= head <= "z":
        return ord(head) - ord("a") + 2
    if "A" <= head <= "Z":
        return ord("Z") - ord(head) + 2
    raise RankError(f"invalid rank head {head!r}")


def _integer_part(key: str) -> str:
    length = _integer_length(key[0])
    if length > len(key):
        raise RankError(f"invalid rank {key!r}")
    return key[:length]


def validate(key: str) -> None:
    """Raise :class:`RankError` unless ``key`` is a well-formed rank."""
    if not key or key == _SMALLEST_INTEGER:
        raise RankError(f"invalid rank {key!r}")
    integer = _integer_part(key)
    if any(c not in _INDEX for c in key[1:]):
        raise RankError(f"invalid rank {key!r}")
    fraction = key[len(integer):]
    if fraction.endswith(_ZERO):
        raise RankError(f"invalid rank {key!r} (trailing zero)")


def _midpoint(a: str, b: str | None) -> str:
    """A fraction strictly between fractions ``a`` and ``b`` (``None`` = 1)."""
    if b is not None and a >= b:
        raise RankError(f"{a!r} >= {b!r}")
    if b is not None:
        # Keep the common prefix (``a`` padded with zeros).
        n = 0
        while n < len(b) and (a[n] if n < len(a) else _ZERO) == b[n]:
            n += 1
        if n > 0:
            return b[:n] + _midpoint(a[n:], b[n:])
    digit_a = _INDEX[a[0]] if a else 0
    digit_b = _INDEX[b[0]] if b is not None else len(DIGITS)
    if digit_b - digit_a > 1:
        return DIGITS[(digit_a + digit_b + 1) // 2]
    # Consecutive first digits.
    if b is not None and len(b) > 1:
        return b[0]
    return DIGITS[digit_a] + _midpoint(a[1:], None)


def _increment_integer(x: str) -> str | None:
    head, digits = x[0], list(x[1:])
    carry = True
    for i in range(len(digits) - 1, -1, -1):
        d = _INDEX[digits[i]] + 1
        if d == len(DIGITS):
            digits[i] = _ZERO
        else:
            digits[i] = DIGITS[d]
            carry = False
            break
    if not carry:
        return head + "".join(digits)
    if head == "Z":
        return "a" + _ZERO
    if head == "z":
        return None
    new_head = chr(ord(head) + 1)
    if new_head > "a":
        digits.append(_ZERO)
    else:
        digits.pop()
    return new_head + "".join(digits)


def _decrement_integer(x: str) -> str | None:
    head, digits = x[0], list(x[1:])
    borrow = True
    for i in range(len(digits) - 1, -1, -1):
        d = _INDEX[digits[i]] - 1
        if d == -1:
            digits[i] = DIGITS[-1]
        else:
            digits[i] = DIGITS[d]
            borrow = False
            break
    if not borrow:
        return head + "".join(digits)
    if head == "a":
        return "Z" + DIGITS[-1]
    if head == "A":
        return None
    new_head = chr(ord(head) - 1)
    if new_head < "Z":
        digits.append(DIGITS[-1])
    else:
        digits.pop()
    return new_head + "".join(digits)


def between(a: str | None, b: str | None) -> str:
    """A new rank strictly between ``a`` and ``b``; ``None`` means an open end.

    ``between(None, None)`` is the first rank of an empty list, ``between(last, None)``
    appends, ``between(None, first)`` prepends.
    """
    if a is not None:
        validate(a)
    if b is not None:
        validate(b)
    if a is not None and b is not None and a >= b:
        raise RankError(f"{a!r} >= {b!r}")
    if a is None:
        if b is None:
            return "a" + _ZERO
        int_b = _integer_part(b)
        frac_b = b[len(int_b):]
        if int_b == _SMALLEST_INTEGER:
            return int_b + _midpoint("", frac_b)
        if int_b < b:
            return int_b
        decremented = _decrement_integer(int_b)
        if decremented is None:
            raise RankError("cannot rank before the smallest key")
        return decremented
    int_a = _integer_part(a)
    frac_a = a[len(int_a):]
    if b is None:
        incremented = _increment_integer(int_a)
        return int_a + _midpoint(frac_a, None) if incremented is None else incremented
    int_b = _integer_part(b)
    frac_b = b[len(int_b):]
    if int_a == int_b:
        return int_a + _midpoint(frac_a, frac_b)
    incremented = _increment_integer(int_a)
    if incremented is None:
        raise RankError("cannot rank after the largest key")
    if incremented < b:
        return incremented
    return int_a + _midpoint(frac_a, None)


def spread(n: int) -> list[str]:
    """``n`` short, evenly spaced, increasing ranks: the positions a rebalanced list gets."""
    ranks: list[str] = []
    current: str | None = None
    for _ in range(n):
        current = between(current, None)
        ranks.append(current)
    return ranks
