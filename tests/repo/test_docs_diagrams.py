"""The Markdown's mermaid flowcharts draw what they mean: every node is defined once (one id, one
box: an id defined twice merges two boxes into one, silently), every edge joins defined nodes, and
no subgraph shares an id with a node. A line this reader does not understand fails the test, so a
diagram cannot grow past what is checked."""

import re
from pathlib import Path

import pytest

from tests.support.markdown import documents, name, split

ID = r"[A-Za-z_][\w]*"
# A node's id and the opening of its shape: [..], (..), {..}, [(..)], [[..]], {{..}}, [/../], >..], ((..)).
SHAPES = [("[[", "]]"), ("[(", ")]"), ("((", "))"), ("{{", "}}"), ("[/", "/]"), ("[/", "\\]"), ("[\\", "\\]"),
          ("([", "])"), ("[", "]"), ("(", ")"), ("{", "}"), (">", "]")]  # fmt: skip
ARROW = r"(?:-->|---|-\.->|-\.-|==>|===|--o|--x)"
LABEL = r"(?:\"[^\"]*\"|[^\"]*?)"  # an edge's text, quoted or not
LABELLED_ARROW = rf"(?:--\s*{LABEL}\s*-->|-\.\s*{LABEL}\s*\.->|-\.\s*{LABEL}\s*\.-|==\s*{LABEL}\s*==>)"
EDGE = re.compile(rf"^({ID})\s*(?:{LABELLED_ARROW}|{ARROW}(?:\|[^|]*\|)?)\s*({ID})$")
IGNORED = re.compile(r"^(flowchart|graph|direction|classDef|class|style|linkStyle|click|%%)\b|^end$")


def take_definition(text: str) -> tuple[str, str] | None:
    """(id, what is left) when `text` starts with a node definition, its label removed."""
    match = re.match(rf"({ID})\s*", text)
    if match is None:
        return None
    rest = text[match.end() :]
    for opening, closing in SHAPES:
        if rest.startswith(opening):
            body = rest[len(opening) :]
            if body.startswith('"'):
                end = body.find('"', 1)
                if end < 0 or not body[end + 1 :].startswith(closing):
                    return None
                return match.group(1), body[end + 1 + len(closing) :]
            end = body.find(closing)
            if end < 0:
                return None
            return match.group(1), body[end + len(closing) :]
    return None


def problems_in_flowchart(lines: list[str]) -> list[str]:
    defined: dict[str, int] = {}
    subgraphs: set[str] = set()
    used: list[tuple[str, str]] = []
    problems = []
    for raw in lines:
        text = raw.strip().rstrip(";")
        if not text or IGNORED.match(text):
            continue
        subgraph = re.match(rf"^subgraph\s+({ID})", text)
        if subgraph:
            subgraphs.add(subgraph.group(1))
            continue
        # Definitions at either end of an edge, or alone: each replaced by its bare id.
        simplified = text
        for _ in range(2):
            found = re.search(rf"(?:^|(?<=[\s>|-]))({ID}\s*[\[({{>])", simplified)
            if found is None:
                break
            definition = take_definition(simplified[found.start() :])
            if definition is None:
                break
            node, rest = definition
            defined[node] = defined.get(node, 0) + 1
            simplified = simplified[: found.start()] + node + rest
        simplified = simplified.strip()
        if re.fullmatch(ID, simplified):
            continue
        edge = EDGE.match(simplified)
        if edge is None:
            problems.append(f"a line this test cannot read: {raw.strip()!r}")
            continue
        used += [(edge.group(1), raw.strip()), (edge.group(2), raw.strip())]
    problems += [f"node {node} is defined {count} times" for node, count in defined.items() if count > 1]
    problems += [f"{node} is both a subgraph and a node" for node in sorted(subgraphs & set(defined))]
    problems += [
        f"{node} is used but never defined: {line!r}"
        for node, line in used
        if node not in defined | dict.fromkeys(subgraphs)
    ]
    return problems


def flowcharts(path: Path) -> list[tuple[int, list[str]]]:
    _, blocks = split(path.read_text(encoding="utf-8"))
    return [
        (block.line, block.lines)
        for block in blocks
        if block.info == "mermaid" and block.lines and re.match(r"\s*(flowchart|graph)\b", block.lines[0])
    ]


DIAGRAMS = [(path, line, lines) for path in documents() for line, lines in flowcharts(path)]


def test_the_diagrams_are_found():
    assert {name(path) for path, _, _ in DIAGRAMS} >= {"README.md", "docs/ARCHITECTURE.md"}


@pytest.mark.parametrize(("path", "line", "lines"), DIAGRAMS, ids=[f"{name(p)}:{n}" for p, n, _ in DIAGRAMS])
def test_every_node_of_a_flowchart_is_defined_once_and_every_edge_joins_defined_nodes(path, line, lines):
    assert problems_in_flowchart(lines) == []


def test_an_id_defined_twice_and_an_undefined_one_are_found():
    diagram = """flowchart LR
  subgraph AWS["AWS"]
    EA["EventsApiFunction<br/>GET /events/{id}"]
    DB[(DynamoDB)]
  end
  subgraph ETpay
    EA[ETpay API]
  end
  EA -- "session/initialize" --> DB
  DB -. "stream" .-> EB{{"bus"}}
  EB -->|rules| MB
  DB ~~~ EA
""".splitlines()
    problems = problems_in_flowchart(diagram)
    assert "node EA is defined 2 times" in problems
    assert any(problem.startswith("MB is used but never defined") for problem in problems)
    assert any("cannot read" in problem and "~~~" in problem for problem in problems)
    assert len(problems) == 3, problems
