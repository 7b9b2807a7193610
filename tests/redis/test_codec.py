"""Stored payloads are read back exactly as ``json.loads`` reads them (the fast path
through the C scanner changes no outcome): the same value, or a SerializationError
where ``json.loads`` fails."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from checkqueue_actors import SerializationError
from checkqueue_actors._backends.redis._codec import PayloadCodec

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


def _stored(value: Any, left: str, right: str, cut: int) -> str:
    text = left + json.dumps(value) + right
    return text[:cut] if cut >= 0 else text


@given(
    st.one_of(
        st.builds(
            _stored,
            _JSON,
            st.sampled_from(["", "", " ", "\n\t"]),
            st.sampled_from(["", " ", "\n", "x", "]", "1"]),
            st.just(-1) | st.integers(0, 12),
        ),
        st.text(max_size=20),
    ),
    st.booleans(),
)
@settings(max_examples=300)
def test_decode_agrees_with_json_loads(text: str, as_bytes: bool) -> None:
    codec = PayloadCodec(None, 1 << 20)
    try:
        expected: Any = json.loads(text)
    except ValueError:
        expected = SerializationError
    try:
        got: Any = codec.decode(text.encode("utf-8", "surrogatepass") if as_bytes else text)
    except SerializationError:
        got = SerializationError
    if as_bytes and any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert got is SerializationError  # a lone surrogate is not UTF-8
    elif expected is SerializationError or got is SerializationError:
        assert got is expected
    else:
        assert repr(got) == repr(expected)
