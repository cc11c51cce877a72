"""The README is a front door: it fits on a few screens, it opens with the two commands (one runs the
whole stack locally, one runs every check and is what CI runs), and its picture of the stack shows
every function of the template. Reference belongs in docs/."""

import re

from local.emulator.template import ROOT, load_template
from tests.support.markdown import split

README = ROOT / "README.md"
MAX_LINES = 200


def test_the_readme_fits_on_a_few_screens():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"README.md has {lines} lines: move reference to docs/"


def test_the_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    _, blocks = split(README.read_text(encoding="utf-8"))
    first = [line.split("#")[0].strip() for line in blocks[0].lines]
    assert first == ["make local", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.MULTILINE), ".ci/run runs the README's test command"


def test_the_readmes_picture_shows_every_function_of_the_template():
    _, blocks = split(README.read_text(encoding="utf-8"))
    diagram = "\n".join(line for block in blocks if block.info == "mermaid" for line in block.lines)
    functions = [
        name
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    ]
    assert len(functions) == 7
    assert [name for name in functions if not re.search(rf"\b{name}\b", diagram)] == []
