"""The outbox's states and moves: every state has its arrows, and a move not drawn is refused."""

from __future__ import annotations

import pytest

from outreach.core.outbox import ATTENTION, FINAL, MOVES, OPEN, RECORDED, State, check_moves


def test_every_state_has_its_moves_and_sent_is_final() -> None:
    assert set(MOVES) == set(State)
    assert MOVES[State.SENT] == frozenset()
    assert set(OPEN) | set(FINAL) | {State.ERROR} == set(State)
    assert set(RECORDED.values()) <= set(State) and State.ERROR in ATTENTION


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (State.SENT, State.PENDING),  # never sent twice by a code path
        (State.REJECTED, State.CLAIMED),  # a rejected gift is never claimed
        (State.NEEDS_APPROVAL, State.CLAIMED),  # nothing skips approval
        (State.ERROR, State.CLAIMED),  # an error is planned again, never sent as it stands
        (State.PENDING, State.SENDING),  # a request begins only on a row claimed first
        (State.CLAIMED, State.AMBIGUOUS),  # a claimed row's request never began: no doubt
        (State.CLAIMED, State.SENT),
        (State.LATE, State.SENT),
    ],
)
def test_a_move_not_drawn_is_refused(before: State, after: State) -> None:
    with pytest.raises(ValueError, match="never moves"):
        check_moves([before], after)
