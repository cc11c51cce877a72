"""Every relative link of the repository's Markdown leads somewhere: the file or folder exists, and
an `#anchor` names a heading of its document by GitHub's rules (or an explicit `<a id>`). Links to
the web are left alone: this runs without a network."""

from pathlib import Path
from urllib.parse import unquote

import pytest

from local.emulator.template import ROOT
from tests.support.markdown import anchors, documents, links, name, slug

DOCUMENTS = documents()
WEB = ("http://", "https://", "mailto:")


def broken_links(path: Path, text: str | None = None) -> list[str]:
    problems = []
    for line, target in links(path.read_text(encoding="utf-8") if text is None else text):
        if target.startswith(WEB) or not target:
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{name(path)}:{line}: {target}"
        if not destination.exists():
            problems.append(f"{where}: no such file")
            continue
        if ROOT not in destination.parents and destination != ROOT:
            problems.append(f"{where}: outside the repository (its docs must stand alone)")
            continue
        if anchor:
            if destination.is_dir() or destination.suffix != ".md":
                problems.append(f"{where}: an anchor into something that is not a Markdown document")
            elif anchor not in anchors(destination.read_text(encoding="utf-8")):
                problems.append(f"{where}: {name(destination)} has no heading with the anchor #{anchor}")
    return problems


def test_the_documents_are_found():
    found = {name(path) for path in DOCUMENTS}
    assert {"README.md", "docs/API.md", "docs/OPERATIONS.md", "local/README.md", "ops/README.md"} <= found


@pytest.mark.parametrize("path", DOCUMENTS, ids=name)
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("What `make deploy` does", "what-make-deploy-does"),
        ("Storing ETpay's credentials", "storing-etpays-credentials"),
        ("8. Mexico", "8-mexico"),
        (
            "2. Opening a session: `POST {api_url}/session/initialize`",
            "2-opening-a-session-post-api_urlsessioninitialize",
        ),
        ("Mexico (MXN)", "mexico-mxn"),
        (
            "`GET /reviews` and `POST /orders/{merchant_order_id}/review`",
            "get-reviews-and-post-ordersmerchant_order_idreview",
        ),
        ("The [review queue](#x) **now**", "the-review-queue-now"),
    ],
)
def test_anchors_follow_githubs_rules(heading, anchor):
    assert slug(heading) == anchor


def test_a_repeated_heading_gets_a_numbered_anchor():
    assert anchors("# A\n## Do\n## Do\n```\n# not a heading\n```\n") == {"a", "do", "do-1"}


def test_a_broken_link_a_missing_anchor_and_a_link_outside_are_named():
    # given a document in docs/ linking to a missing file, a missing heading and a file outside the
    # repository, and showing a link as code
    text = (
        "See [gone](no-such-file.md), [there](../README.md#no-such-heading), [out](../../shared/x.md)\n"
        "and `[code](x.md)`; [fine](../README.md) and [web](https://example.com/#x).\n"
    )
    # when its links are checked
    problems = broken_links(ROOT / "docs" / "FAKE.md", text)
    # then each broken one is named, and only those
    assert len(problems) == 3, problems
    assert "no-such-file.md: no such file" in problems[0]
    assert "has no heading with the anchor #no-such-heading" in problems[1]
    assert "../../shared/x.md" in problems[2]
