"""Versions: SemVer 2.0 precedence, validation and the ordering policies."""

from __future__ import annotations

import itertools
import random

import pytest

from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.versions import (
    VersionPolicy,
    compare,
    in_order,
    is_prerelease,
    parse,
    sort_key,
    validate,
)

# SemVer 2.0.0 §11, in ascending precedence.
PRECEDENCE = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
]
SEMVER_POLICIES = [VersionPolicy.NON_DECREASING, VersionPolicy.INCREASING]
BAD_VERSIONS = ["v1..2", "1.2", "latest", "v1.2.3;rm -rf /", "", "1" * 200, "v1.2." + "3" * 195]


@pytest.mark.parametrize(("lower", "upper"), list(itertools.pairwise(PRECEDENCE)))
def test_semver_precedence_adjacent_pairs(lower: str, upper: str) -> None:
    assert compare(lower, upper) == -1
    assert compare(upper, lower) == 1
    assert compare(lower, lower) == 0


@pytest.mark.parametrize("seed", range(5))
def test_sort_key_restores_precedence_order(seed: int) -> None:
    shuffled = PRECEDENCE[:]
    random.Random(seed).shuffle(shuffled)
    assert sorted(shuffled, key=sort_key) == PRECEDENCE
    assert sorted(reversed(PRECEDENCE), key=sort_key) == PRECEDENCE


def test_numeric_parts_compare_as_numbers() -> None:
    assert compare("v0.10.0", "v0.9.0") == 1
    assert compare("v0.9.0", "v0.10.0") == -1
    assert compare("1.10.0", "1.2.0") == 1
    assert sorted(["v0.10.0", "v0.9.0", "v0.2.0"], key=sort_key) == [
        "v0.2.0",
        "v0.9.0",
        "v0.10.0",
    ]


def test_v_prefix_is_optional() -> None:
    assert compare("v1.2.3", "1.2.3") == 0
    assert compare("V1.2.3", "1.2.3") == 0
    assert compare("v1.2.3", "1.2.4") == -1
    assert parse("v1.2.3") == parse("1.2.3")
    for policy in SEMVER_POLICIES:
        assert validate("v1.2.3", policy) == "v1.2.3"
        assert validate("1.2.3", policy) == "1.2.3"


def test_build_metadata_is_ignored_for_precedence() -> None:
    assert compare("1.0.0+build.1", "1.0.0+build.2") == 0
    assert compare("v1.0.0+abc", "1.0.0") == 0
    assert compare("1.0.0-rc.1+zzz", "1.0.0") == -1
    assert compare("1.0.1+a", "1.0.0+z") == 1
    assert sort_key("1.0.0+a") == sort_key("1.0.0+b")
    assert in_order("1.0.0+b", "1.0.0+a", VersionPolicy.NON_DECREASING)
    assert not in_order("1.0.0+a", "1.0.0+b", VersionPolicy.INCREASING)


def test_sort_key_puts_non_versions_last_by_text() -> None:
    assert sorted(["zeta", "1.0.0", "alpha", "0.1.0"], key=sort_key) == [
        "0.1.0",
        "1.0.0",
        "alpha",
        "zeta",
    ]


def test_compare_refuses_non_versions() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        compare("latest", "1.0.0")
    assert excinfo.value.exit_code == 2
    with pytest.raises(InvalidInput):
        compare("1.0.0", "1.2")


@pytest.mark.parametrize("policy", SEMVER_POLICIES)
@pytest.mark.parametrize("text", BAD_VERSIONS)
def test_validate_rejects_malformed_versions(text: str, policy: VersionPolicy) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate(text, policy)
    assert excinfo.value.exit_code == 2
    assert parse(text) is None


@pytest.mark.parametrize("policy", SEMVER_POLICIES)
@pytest.mark.parametrize("text", ["1.2.3", "v0.10.0", "1.0.0-rc.1", "1.0.0-alpha.beta+exp.sha.5"])
def test_validate_accepts_semver(text: str, policy: VersionPolicy) -> None:
    assert validate(text, policy) == text


def test_validate_any_accepts_tags_but_not_unsafe_text() -> None:
    assert validate("latest", VersionPolicy.ANY) == "latest"
    assert validate("build_42.x", VersionPolicy.ANY) == "build_42.x"
    assert validate("v1.2.3", VersionPolicy.ANY) == "v1.2.3"
    assert validate("a" * 128, VersionPolicy.ANY) == "a" * 128
    for bad in ["a b", ";x", "", "-x", "a" * 129, "v1.2.3;rm -rf /", "1" * 200]:
        with pytest.raises(InvalidInput):
            validate(bad, VersionPolicy.ANY)


def test_in_order_non_decreasing() -> None:
    policy = VersionPolicy.NON_DECREASING
    assert in_order("1.0.0", "1.0.1", policy)
    assert in_order("1.0.0", "1.0.0", policy)
    assert in_order("v1.0.0", "1.0.0", policy)
    assert in_order("1.0.0-rc.1", "1.0.0", policy)
    assert in_order("v0.9.0", "v0.10.0", policy)
    assert not in_order("1.0.1", "1.0.0", policy)
    assert not in_order("1.0.0", "1.0.0-rc.1", policy)
    assert not in_order("1.0.0", "latest", policy)


def test_in_order_increasing() -> None:
    policy = VersionPolicy.INCREASING
    assert in_order("1.0.0", "1.0.1", policy)
    assert in_order("1.0.0-beta.2", "1.0.0-beta.11", policy)
    assert not in_order("1.0.0", "1.0.0", policy)
    assert not in_order("v1.0.0", "1.0.0", policy)
    assert not in_order("1.0.1", "1.0.0", policy)
    assert not in_order("latest", "1.0.0", policy)


def test_in_order_any() -> None:
    policy = VersionPolicy.ANY
    assert in_order("1.0.1", "1.0.0", policy)
    assert in_order("1.0.0", "1.0.0", policy)
    assert in_order("latest", "stable", policy)


def test_is_prerelease() -> None:
    assert is_prerelease("1.0.0-rc.1")
    assert is_prerelease("v1.0.0-alpha")
    assert is_prerelease("1.0.0-beta.11+build.7")
    assert not is_prerelease("1.0.0")
    assert not is_prerelease("v1.0.0+build.7")
    assert not is_prerelease("latest")
    assert not is_prerelease("1.2-rc")
