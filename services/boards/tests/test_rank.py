"""Property tests of the rank strings (pure, no database)."""

from __future__ import annotations

import pytest
from boards.domain import rank
from hypothesis import given, settings
from hypothesis import strategies as st

# One operation: ("insert", index) puts a new item at ``index``; ("move", source, index)
# takes the item at ``source`` out and puts it back at ``index``. Indices are reduced modulo
# the current length, so every generated sequence is valid.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(min_value=0, max_value=10_000)),
        st.tuples(st.just("move"), st.integers(min_value=0, max_value=10_000),
                  st.integers(min_value=0, max_value=10_000)),
    ),
    min_size=1, max_size=200,
)


def _place(ranks: list[str], index: int) -> str:
    """A new rank for position ``index`` of ``ranks``, from its two neighbours only (what the
    service does: before = the rank at index-1, after = the rank at index)."""
    before = ranks[index - 1] if index > 0 else None
    after = ranks[index] if index < len(ranks) else None
    return rank.between(before, after)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_any_sequence_of_inserts_and_moves_keeps_a_strict_total_order(ops):
    ranks: list[str] = []
    for op in ops:
        if op[0] == "insert" or not ranks:
            index = op[1] % (len(ranks) + 1)
            ranks.insert(index, _place(ranks, index))
        else:
            source = op[1] % len(ranks)
            ranks.pop(source)
            index = op[2] % (len(ranks) + 1)
            ranks.insert(index, _place(ranks, index))
        # Strictly increasing in list order = the string order IS the list order, no ties.
        assert all(a < b for a, b in zip(ranks, ranks[1:], strict=False)), ranks
        for key in ranks:
            rank.validate(key)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=300))
def test_repeated_inserts_into_one_gap_stay_ordered(sides):
    """The adversarial case for rank length: always inserting next to the same item."""
    low, high = rank.between(None, None), None
    high = rank.between(low, None)
    for towards_low in sides:
        middle = rank.between(low, high)
        assert low < middle < high
        if towards_low:
            high = middle
        else:
            low = middle


def test_appending_keeps_ranks_short():
    ranks = rank.spread(100_000)
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert max(map(len, ranks)) <= 5


def test_prepending_and_appending():
    first = rank.between(None, None)
    before = rank.between(None, first)
    after = rank.between(first, None)
    assert before < first < after


@pytest.mark.parametrize("bad", ["", "a", "a00", "!0", "b0", "A" + "0" * 26])
def test_malformed_ranks_are_refused(bad):
    with pytest.raises(rank.RankError):
        rank.validate(bad)


def test_bounds_in_the_wrong_order_are_refused():
    with pytest.raises(rank.RankError):
        rank.between("a1", "a0")
    with pytest.raises(rank.RankError):
        rank.between("a1", "a1")
