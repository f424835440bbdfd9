from __future__ import annotations

import pytest

from hub.identities import InvalidAddress, normalize_address


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("email", "  Ann.Lee@Example.COM ", "ann.lee@example.com"),
        ("email", "wang@例子.中国", "wang@xn--fsqu00a.xn--fiqs8s"),
        ("phone", "+1 (415) 555-0100", "+14155550100"),
        ("phone", "+86 138 0013 8000", "+8613800138000"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("social", " weibo:1234567 ", "weibo:1234567"),
        ("slack", "U024BE7LH", "U024BE7LH"),
    ],
)
def test_normalizes(kind: str, raw: str, expected: str) -> None:
    assert normalize_address(kind, raw) == expected


@pytest.mark.parametrize(
    ("kind", "raw"),
    [("email", "no-at-sign"), ("email", "a@"), ("phone", "hello"), ("phone", "+1 23"), ("social", ""),
     ("slack", "U1\r\nBcc: x"), ("email", "x" * 400 + "@example.com")],
)
def test_rejects_with_a_reason(kind: str, raw: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        normalize_address(kind, raw)
    assert str(info.value)


def test_national_phone_needs_a_region() -> None:
    with pytest.raises(InvalidAddress):
        normalize_address("phone", "0138 0013 8000")
    assert normalize_address("phone", "138 0013 8000", default_region="CN") == "+8613800138000"
