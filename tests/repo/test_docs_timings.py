"""No hand-typed timings. How long a command takes ("`make unit` takes about 45 s") is true on one
machine, one day: typed into a document it goes stale and misleads the next reader. So a duration
that reads as a measurement may appear only in text the measuring command wrote, with its date:
docs/BENCHMARKS.md (written whole by `make bench`) and the block of docs/TESTING.md between the
markers `make tier-timings` writes (scripts/tier_timings.py).

What reads as a measurement: a duration after "takes", "took", "passed in", "ready in" and the like,
an approximate one ("about 11 minutes", "~12 s") or a range ("20-40 s"). Configuration is stated
exactly and passes: "within 10 s", "every minute", "30 minutes by default", "for at least 3 days".
"""

import re
from pathlib import Path

import pytest

from local.emulator.template import ROOT
from scripts import tier_timings
from tests.support.markdown import documents, name

NUMBER = r"\d+(?:[.,]\d+)?"
UNIT = r"(?:ms|s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?)\b"
DURATION = rf"~?\s*{NUMBER}\s*{UNIT}"
MEASUREMENT = re.compile(
    "|".join(
        [
            # a verb of running time, then (after a few words such as "well under") a duration
            rf"\b(?:takes?|took|taking|lasted)\s+(?:[A-Za-z]+\s+){{0,3}}{DURATION}",
            rf"\b(?:passed|failed|ran|runs|finished|finishes|done|ready|completes?|completed)\s+in\s+{DURATION}",
            # an approximate duration
            rf"(?:\b(?:about|around|roughly|approximately|nearly|almost)\s+|~\s*|≈\s*){NUMBER}\s*{UNIT}",
            # a range of durations
            rf"\b{NUMBER}\s*(?:-|–|to)\s*{NUMBER}\s*{UNIT}",
        ]
    ),
    re.IGNORECASE,
)
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
TESTING = ROOT / "docs" / "TESTING.md"


def generated_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of every block `make tier-timings` wrote."""
    return [
        (match.start(), match.end())
        for match in re.finditer(re.escape(tier_timings.BEGIN) + ".*?" + re.escape(tier_timings.END), text, re.DOTALL)
    ]


def hand_typed_timings(path: Path, text: str | None = None) -> list[str]:
    text = path.read_text(encoding="utf-8") if text is None else text
    if path == BENCHMARKS:
        return []  # written whole by make bench (test_benchmarks_are_written_by_make_bench)
    blocks = generated_blocks(text)
    problems = []
    for match in MEASUREMENT.finditer(text):
        if any(start <= match.start() < end for start, end in blocks):
            continue
        line = text.count("\n", 0, match.start()) + 1
        problems.append(f"{name(path)}:{line}: {match.group(0)!r}")
    return problems


@pytest.mark.parametrize("path", documents(), ids=name)
def test_no_document_gives_a_hand_typed_timing(path):
    assert hand_typed_timings(path) == [], (
        "a timing may only appear in text its measuring command wrote with its date "
        "(make bench: docs/BENCHMARKS.md; make tier-timings: docs/TESTING.md's block)"
    )


@pytest.mark.parametrize(
    "sentence",
    [
        "spread over the machine's cores with pytest-xdist: about 45 s on 2 cores,",
        "`make unit` takes about 45 s, of which the pure `tests/unit` take 12 s.",
        "`make bench` (about 11 minutes, everything on 127.0.0.1) measures cold start",
        "Whole suite: **18 passed in 50 s** (up to 107 s under heavy load)",
        "Reproduce: `pytest tests/reliability/test_concurrency.py -q` (16 tests, ~20–40 s).",
        "No real hour passes (each test takes 1-3 s).",
        "Local stack ready in 3.5 s",
        "(warm invocations take well under 200 ms; the stack reserves none by default)",
        "ETpay did not answer within ~12 s",
        "it took 3 minutes from a fresh clone",
    ],
)
def test_a_measurement_typed_by_hand_is_caught(sentence):
    assert hand_typed_timings(ROOT / "docs" / "FAKE.md", sentence) != []


@pytest.mark.parametrize(
    "sentence",
    [
        "Answer 2xx within 10 s, then do the work.",
        "30 s, 1, 2, 4 ... minutes up to 6 hours between attempts, for at least 3 days (28 attempts)",
        "A session lives `SessionLifetimeSeconds` (30 minutes by default)",
        "reading the credentials from Secrets Manager, cached in memory for 5 minutes",
        "a timeout (25 s; 120 s for the reconciliation)",
        "runs every minute; the stream keeps records 24 hours",
        "its maxReceiveCount with the shortest waits lasts 3 days",
        "Mexican banking rules cap CoDi payments at 1,500 UDIS (about MXN 12,500) per operation",
        "ETpay did not answer within 12 s (its client's cap); retry",
        "an order claimed by an invocation that died is free again after 60 seconds",
    ],
)
def test_configuration_values_are_not_taken_for_measurements(sentence):
    assert hand_typed_timings(ROOT / "docs" / "FAKE.md", sentence) == []


def test_benchmarks_are_written_by_make_bench_with_their_date():
    first = BENCHMARKS.read_text(encoding="utf-8").split("\n\n", 2)[1]
    assert re.search(r"Written by `make bench` \(`python -m bench`\) on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", first)


BLOCK_SHAPE = re.compile(
    re.escape(tier_timings.BEGIN)
    + r"\nMeasured by `make tier-timings` on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC, one tier after the other; load "
    r"average \(1/5/15 min\) [\d./]+ before, [\d./]+ after; \d+ CPUs, [^\n]+\.\n\n"
    r"\| what \| pytest runs \| result \| wall time \|\n\|---\|---\|---\|---\|\n"
    r"(?:\| `[^`|]+` \| `[^`|]+` \| (?:\d+ [a-z]+(?:, )?)+ \| \d+ s \|\n)+" + re.escape(tier_timings.END)
)


def test_testing_md_has_one_block_of_tier_timings_of_the_generated_shape():
    text = TESTING.read_text(encoding="utf-8")
    (block,) = [text[start:end] for start, end in generated_blocks(text)]
    assert BLOCK_SHAPE.fullmatch(block), block


def test_the_script_writes_a_block_of_that_shape_in_place_of_the_old_one():
    from datetime import UTC, datetime

    results = [
        tier_timings.Measured(tier_timings.TIERS["unit"], "501 passed, 3 skipped", 98.4),
        tier_timings.Measured(tier_timings.TIERS["repo"], "120 passed", 61.0),
    ]
    block = tier_timings.render(
        results, datetime(2026, 12, 7, 9, 5, tzinfo=UTC), "1.0/2.0/3.0", "2.5/2.0/3.0", "2 CPUs, Linux, Python 3.13.0"
    )
    assert BLOCK_SHAPE.fullmatch(block), block
    document = f"# Testing\n\nBefore.\n\n{tier_timings.BEGIN}\nold\n{tier_timings.END}\n\nAfter.\n"
    assert tier_timings.replace_block(document, block) == f"# Testing\n\nBefore.\n\n{block}\n\nAfter.\n"
