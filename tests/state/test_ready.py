"""ReadySet pops in the same order as a sorted-list model, whatever came first."""

from __future__ import annotations

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from checkqueue_actors._state.ready import ReadySet


@attrs.define(eq=False)
class Rec:
    name: int
    available_at: float = 0.0
    """Its own key (what it is pushed under, unless pushed under another one)."""
    seq: int = 0
    dropped: bool = False


class ReadySetMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.real = ReadySet[Rec]()
        self.model: list[tuple[int, float, int, Rec]] = []
        self.seq = 0

    @rule(
        neg_priority=st.integers(-2, 2),
        available_at=st.sampled_from([0.0, 1.0, 2.0, 3.0]),
        late_seq=st.booleans(),
        own_key=st.booleans(),
    )
    def push(self, neg_priority: int, available_at: float, late_seq: bool, own_key: bool) -> None:
        # seq usually grows (enqueue order); a given-back delivery reuses an old one; a
        # retry is pushed under another time than the record's own
        self.seq += 1
        seq = -self.seq if late_seq else self.seq
        if own_key:
            rec = Rec(self.seq, available_at, seq)
        else:
            rec = Rec(self.seq, available_at - 0.5, seq)
        self.real.push(neg_priority, available_at, seq, rec)
        self.model.append((neg_priority, available_at, seq, rec))

    @precondition(lambda self: any(not e[3].dropped for e in self.model))
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        live = [e for e in self.model if not e[3].dropped]
        entry = data.draw(st.sampled_from(live))
        entry[3].dropped = True
        self.real.forget_one()

    @rule()
    def pop(self) -> None:
        live = sorted((e for e in self.model if not e[3].dropped), key=lambda e: e[:3])
        got = self.real.pop()
        if not live:
            assert got is None
            return
        assert got == live[0]
        self.model.remove(live[0])

    @invariant()
    def sizes_agree(self) -> None:
        live = [e[3] for e in self.model if not e[3].dropped]
        assert len(self.real) == len(live)
        assert set(map(id, self.real.records())) == set(map(id, live))

    @invariant()
    def ordered_is_pop_order(self) -> None:
        live = sorted((e for e in self.model if not e[3].dropped), key=lambda e: e[:3])
        assert list(self.real.ordered()) == live


TestReadySet = ReadySetMachine.TestCase


def test_compaction_frees_dropped_entries() -> None:
    """Dropping most entries compacts them away; the live ones still pop in order."""
    ready = ReadySet[Rec]()
    recs = [Rec(i, 0.0, i) for i in range(1000)]
    for i, rec in enumerate(recs):
        ready.push(0, 0.0, i, rec)
    for rec in recs[:900]:
        rec.dropped = True
        ready.forget_one()
    assert ready.size < 200
    popped = [entry[3].name for entry in iter(ready.pop, None)]
    assert popped == list(range(900, 1000))
    assert ready.size == 0
