"""``new_queue_job`` builds the same ``QueueJob`` as the class's own ``__init__``."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkqueue_actors import QueueJob
from checkqueue_actors._model import NO_HEADERS, QUEUE_JOB_FIELDS, new_queue_job


def test_the_fast_constructor_sets_every_field_of_queue_job() -> None:
    """A field added to ``QueueJob`` must be added to ``new_queue_job`` too."""
    assert tuple(field.name for field in attrs.fields(QueueJob)) == QUEUE_JOB_FIELDS


@given(
    job_id=st.text(max_size=8),
    data=st.one_of(st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers())),
    priority=st.integers(-(2**40), 2**40),
    timestamp=st.datetimes(timezones=st.just(UTC)),
    attempts=st.integers(0, 100),
    headers=st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3),
)
def test_new_queue_job_equals_the_init(
    job_id: str,
    data: Any,
    priority: int,
    timestamp: datetime,
    attempts: int,
    headers: dict[str, str],
) -> None:
    """Same type, same fields, same equality and repr as ``QueueJob(...)``."""
    frozen = MappingProxyType(headers) if headers else NO_HEADERS
    built = new_queue_job(job_id, data, priority, timestamp, attempts, frozen)
    expected = QueueJob(job_id, data, priority, timestamp, attempts, frozen)
    assert type(built) is QueueJob
    assert built == expected
    assert repr(built) == repr(expected)
    assert attrs.asdict(built, recurse=False) == attrs.asdict(expected, recurse=False)


def test_a_job_built_fast_is_still_frozen() -> None:
    job = new_queue_job("j", 1, 0, datetime.now(UTC), 0, NO_HEADERS)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        job.attempts = 1  # type: ignore[misc]
    assert attrs.evolve(job, attempts=2).attempts == 2
