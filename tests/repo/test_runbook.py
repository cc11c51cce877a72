"""docs/DEPLOY.md and docs/OPERATIONS.md say: every command in them is exercised by `make test`, except
those that need an AWS account, which are marked as such. This keeps that true, for each document on
its own (a variable is set in the document that uses it).

Every command line of the runbook's shell blocks is either
- marked `# needs an AWS account`, and then checked offline as far as it can be: an `aws` command
  against botocore's model of the operation (service, operation, each option an input member or
  one of the CLI's own, every required member given); a `make` target against the Makefile
  (`make -n`), `ENV` against samconfig.toml's environments and `ARGS` against
  `sam <command> --help`, or for `make ops` against the operator CLI's own parser and the rules it
  checks before sending anything; a `curl` command's options against `curl --help all`; or
- not marked, and then exercised: `make <target>` only if `make test` runs what it runs, a
  `python3 -c` one-liner run here and its output checked.
Anything else fails ("add it to the test"), and so does a variable used before any command sets it.
"""

import functools
import re
import shlex
import shutil
import subprocess
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field

import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import UnknownServiceError

from local.emulator.template import ROOT, load_template
from scripts.deploycheck.parameters import violation

RUNBOOKS = [ROOT / "docs" / "DEPLOY.md", ROOT / "docs" / "OPERATIONS.md"]
MARKER = "# needs an AWS account"
SHELL_FENCES = {"bash", "sh", "shell"}
# Fences that hold no command (a file's content, output).
OTHER_FENCES = {"json", "text", "yaml", "toml"}
SAM = ROOT / ".venv-sam" / "bin" / "sam"
MAKE = shutil.which("make")
# The AWS CLI's own options (`aws help`, "Global Options"), which no operation's model lists, and
# the pagination options it adds to operations that paginate.
AWS_GLOBAL_OPTIONS = {"--query", "--output", "--region", "--profile", "--no-cli-pager", "--endpoint-url", "--debug"}
AWS_PAGINATION_OPTIONS = {"--max-items", "--page-size", "--starting-token", "--no-paginate"}
# Input members the AWS CLI offers under another name, where the model's would clash with the CLI's
# own options (awscli's customizations/argrename.py): (service, operation, member) -> option.
AWS_RENAMED_OPTIONS = {("sns", "Subscribe", "Endpoint"): "--notification-endpoint"}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
COMMAND_SUBSTITUTION = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="\$\((.*)\)"', re.DOTALL)
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
VARIABLE_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
NOTIFICATION_KEY = re.compile(r"[A-Za-z0-9]{48}")


@dataclass(frozen=True)
class Command:
    text: str  # one logical command line, continuations joined, the marker removed
    needs_aws: bool
    line: int  # where it starts in the runbook

    def __str__(self) -> str:
        return f"line {self.line}: {self.text}"


@dataclass
class Context:
    """What the commands read so far have set."""

    assigned: set[str] = field(default_factory=set)
    values: dict[str, str] = field(default_factory=dict)  # those set to a plain value, e.g. STACK=...

    def expand(self, token: str) -> str:
        """`token` with the variables of known plain value replaced, as the shell would."""
        return VARIABLE_REFERENCE.sub(lambda match: self.values.get(match.group(1), match.group(0)), token)


# -- reading the runbook ------------------------------------------------------------------------


def shell_blocks(markdown: str) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """(first line number, lines) of every shell block, and a problem for every fence that says
    neither shell nor one of OTHER_FENCES (a command must not hide in an unlabelled block)."""
    blocks, problems = [], []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        fence = re.fullmatch(r"(\s*)```(\S*)\s*", lines[index])
        if fence is None:
            index += 1
            continue
        indent, info = fence.groups()
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = [line.removeprefix(indent) for line in lines[index + 1 : end]]
        if info in SHELL_FENCES:
            blocks.append((index + 2, body))
        elif info not in OTHER_FENCES:
            problems.append(f"line {index + 1}: a ``` block labelled {info!r}: label it bash, or one of {OTHER_FENCES}")
        index = end + 1
    return blocks, problems


def commands(markdown: str) -> tuple[list[Command], list[str]]:
    blocks, problems = shell_blocks(markdown)
    found = []
    for first, lines in blocks:
        pending, start = "", first
        for offset, line in enumerate(lines):
            if not pending:
                start = first + offset
            pending += line
            if pending.endswith("\\"):
                pending = pending[:-1]
                continue
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # a quote still open: the command goes on on the next line
                pending += "\n"
                continue
            text = pending.strip()
            pending = ""
            if not text or text.startswith("#"):
                continue
            needs_aws = text.endswith(MARKER)
            found.append(Command(text.removesuffix(MARKER).rstrip(), needs_aws, start))
        if pending:
            problems.append(f"line {start}: a command that never ends (a quote or a trailing backslash)")
    return found, problems


def problems_in(markdown: str) -> list[str]:
    found, problems = commands(markdown)
    context = Context()
    for command in found:
        problems += [f"{command}\n    {problem}" for problem in check(command, context)]
    return problems


# -- checking one command ---------------------------------------------------------------------------


def check(command: Command, context: Context) -> list[str]:
    substitution = COMMAND_SUBSTITUTION.fullmatch(_without_trailing_comment(command.text))
    if substitution is not None:
        name, inner = substitution.groups()
        problems = check(Command(inner.strip(), command.needs_aws, command.line), context)
        context.assigned.add(name)
        return problems
    tokens = shlex.split(command.text, comments=True)
    problems = [
        f"${name} is used before any command sets it"
        for name in _variables(command.text)
        if name not in context.assigned
    ]
    if len(tokens) == 1 and ASSIGNMENT.match(tokens[0]):
        name, _, value = tokens[0].partition("=")
        context.assigned.add(name)
        context.values[name] = value
        if name == "STACK" and value not in samconfig_stack_names():
            problems.append(f"STACK={value} is no stack of samconfig.toml ({sorted(samconfig_stack_names())})")
        return problems
    tokens = [context.expand(token) for token in tokens]
    checker = CHECKERS.get(tokens[0])
    if checker is None:
        return problems + [f"{tokens[0]}: this test has no check for it: add it to tests/repo/test_runbook.py"]
    return problems + checker(tokens, command)


def _without_trailing_comment(text: str) -> str:
    return re.sub(r"\s+#[^\"']*$", "", text)


def _variables(text: str) -> set[str]:
    """Variables the shell expands in `text` (none inside single quotes)."""
    return set(VARIABLE.findall(re.sub(r"'[^']*'", "", text)))


def check_aws(tokens: list[str], command: Command) -> list[str]:
    if not command.needs_aws:
        return [f"an aws command needs an AWS account: end it with {MARKER!r}"]
    if len(tokens) < 3:
        return ["aws <service> <operation> expected"]
    session = botocore.session.get_session()
    service, operation = tokens[1], tokens[2]
    try:
        model = session.get_service_model(service)
    except UnknownServiceError:
        return [f"aws has no service {service!r}"]
    operations = {xform_name(name, "-"): name for name in model.operation_names}
    if operation not in operations:
        return [f"aws {service} has no operation {operation!r}"]
    operation_model = model.operation_model(operations[operation])
    shape = operation_model.input_shape
    members = dict(shape.members) if shape is not None else {}
    options = {cli_option(service, operations[operation], name): name for name in members}
    options |= {
        f"--no-{xform_name(name, '-')}": name for name, member in members.items() if member.type_name == "boolean"
    }
    allowed = set(options) | AWS_GLOBAL_OPTIONS
    if _paginates(session, service, operations[operation]):
        allowed |= AWS_PAGINATION_OPTIONS
    given = [token for token in tokens[3:] if token.startswith("--")]
    problems = [f"aws {service} {operation} has no option {option}" for option in given if option not in allowed]
    required = shape.required_members if shape is not None else []
    for name in required:
        if members[name].metadata.get("idempotencyToken"):
            continue  # the CLI fills it in
        if (option := cli_option(service, operations[operation], name)) not in given:
            problems.append(f"aws {service} {operation} needs {option}")
    return problems


def cli_option(service: str, operation: str, member: str) -> str:
    return AWS_RENAMED_OPTIONS.get((service, operation, member), f"--{xform_name(member, '-')}")


def _paginates(session: botocore.session.Session, service: str, operation: str) -> bool:
    try:
        session.get_paginator_model(service).get_paginator(operation)
    except (ValueError, UnknownServiceError):
        return False
    return True


def check_make(tokens: list[str], command: Command) -> list[str]:
    if MAKE is None:
        pytest.fail("the runbook's make commands need GNU make")
    variables = dict(token.split("=", 1) for token in tokens[1:] if ASSIGNMENT.match(token))
    targets = [token for token in tokens[1:] if not ASSIGNMENT.match(token)]
    if len(targets) != 1 or targets[0].startswith("-"):
        return [f"one make target expected, found {targets}"]
    (target,) = targets
    dry_run = subprocess.run(
        [MAKE, "-n", "--no-print-directory", target, *[f"{name}={value}" for name, value in variables.items()]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if dry_run.returncode != 0:
        return [f"make {target} does not run: {dry_run.stderr.strip()}"]
    problems = []
    if "ENV" in variables and variables["ENV"] not in samconfig_environments():
        problems.append(f"ENV={variables['ENV']}: samconfig.toml has {sorted(samconfig_environments())}")
    if "ARGS" in variables:
        problems += check_sam_args(target, shlex.split(variables["ARGS"]), variables.get("ENV", "default"))
    run_by_make_test = set(dry_run.stdout.splitlines()) <= make_test_dry_run()
    if not command.needs_aws and not run_by_make_test:
        problems.append(f"make {target} is neither run by make test nor marked {MARKER!r}")
    if command.needs_aws and run_by_make_test:
        problems.append(f"make {target} is run by make test: it needs no AWS account, drop the mark")
    return problems


def check_sam_args(target: str, args: list[str], environment: str) -> list[str]:
    """ARGS goes to `sam deploy` (make deploy), is a whole sam command line (make sam), or the operator
    CLI's arguments (make ops)."""
    if target == "ops":
        return check_ops_args(args)
    if target == "deploy":
        words, options = ["deploy"], args
    elif target == "sam":
        count = next((index for index, arg in enumerate(args) if arg.startswith("-")), len(args))
        words, options = args[:count], args[count:]
    else:
        return [f"make {target} takes no ARGS"]
    known = sam_options(tuple(words))
    if known is None:
        return [f"sam has no command {' '.join(words)!r}"]
    problems = [f"sam {' '.join(words)} has no option {o}" for o in options if o.startswith("--") and o not in known]
    if words == ["deploy"] and "--parameter-overrides" in options:
        problems += check_parameter_overrides(_option_values(options, "--parameter-overrides"), environment)
    return problems


def check_ops_args(args: list[str]) -> list[str]:
    """What `python -m ops` would refuse before sending anything: an unknown command or option, a
    resolution it does not know, an order or event id the API cannot take."""
    from ops import cli, rules

    try:
        parsed = cli.parser().parse_args(args)
        cli.check(parsed)
    except (cli.UsageError, rules.Refused) as refused:
        return [f"python -m ops {' '.join(args)}: {refused}"]
    return []


def check_parameter_overrides(overrides: list[str], environment: str) -> list[str]:
    """Every name a template parameter, every value one CloudFormation takes, and samconfig.toml's own
    overrides all repeated (the command line replaces them)."""
    definitions = load_template()["Parameters"]
    given = dict(item.split("=", 1) for item in overrides)
    problems = [f"{name} is no parameter of template.yaml" for name in given if name not in definitions]
    for name, value in given.items():
        if name in definitions and (problem := violation(definitions[name], value)) is not None:
            problems.append(f"{name}={value} {problem}")
    missing = set(samconfig_overrides(environment)) - set(given)
    if missing:
        problems.append(f"--parameter-overrides replaces samconfig.toml's: repeat {sorted(missing)}")
    return problems


def _option_values(options: list[str], option: str) -> list[str]:
    start = options.index(option) + 1
    end = next((i for i in range(start, len(options)) if options[i].startswith("--")), len(options))
    return options[start:end]


def check_curl(tokens: list[str], command: Command) -> list[str]:
    if not command.needs_aws:
        return [f"curl here reaches a deployed stack: end it with {MARKER!r}"]
    known = curl_options()
    problems = []
    for token in tokens[1:]:
        if token.startswith("--"):
            flags = [token]
        elif re.fullmatch(r"-[A-Za-z0-9]+", token):
            flags = [f"-{letter}" for letter in token[1:]]
        else:
            continue
        problems += [f"curl has no option {flag}" for flag in flags if flag not in known]
    return problems


def check_python(tokens: list[str], command: Command) -> list[str]:
    """A one-liner is run here, and what it prints checked by the entry of ONE_LINERS it matches."""
    if command.needs_aws or tokens[1:2] != ["-c"] or len(tokens) != 3:
        return ["only `python3 -c '<code>'` needing no AWS account is checked"]
    for pattern, check_output in ONE_LINERS.items():
        if re.search(pattern, tokens[2]):
            python3 = shutil.which("python3")
            if python3 is None:
                pytest.fail("the runbook's one-liners need a python3 on PATH")
            outputs = [
                subprocess.run([python3, *tokens[1:]], capture_output=True, text=True, check=True, timeout=30).stdout
                for _ in range(2)
            ]
            return check_output(outputs)
    return ["a python3 one-liner this test does not know: add it to ONE_LINERS"]


def new_notification_keys(outputs: list[str]) -> list[str]:
    keys = [output.strip() for output in outputs]
    problems = [f"{key!r} is not 48 letters and digits" for key in keys if not NOTIFICATION_KEY.fullmatch(key)]
    if keys[0] == keys[1]:
        problems.append("two runs printed the same key")
    return problems


def an_hour_ago_in_milliseconds(outputs: list[str]) -> list[str]:
    expected = (time.time() - 3600) * 1000
    printed = outputs[0].strip()
    if not printed.isdigit() or abs(int(printed) - expected) > 60_000:
        return [f"{printed!r} is not an hour ago in milliseconds since the epoch"]
    return []


# A one-liner's code (a regular expression it matches) -> what its output must be.
ONE_LINERS: dict[str, Callable[[list[str]], list[str]]] = {
    r"secrets\.choice": new_notification_keys,
    r"time\.time\(\)": an_hour_ago_in_milliseconds,
}
CHECKERS: dict[str, Callable[[list[str], Command], list[str]]] = {
    "aws": check_aws,
    "make": check_make,
    "curl": check_curl,
    "python3": check_python,
}


# -- what the checks compare with ------------------------------------------------------------------


@functools.cache
def make_test_dry_run() -> frozenset[str]:
    """Every line `make test` would run (sub-makes included)."""
    result = subprocess.run(
        [MAKE or "make", "-n", "--no-print-directory", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return frozenset(result.stdout.splitlines())


@functools.cache
def sam_options(words: tuple[str, ...]) -> frozenset[str] | None:
    if not SAM.exists():
        pytest.fail(f"{SAM} is missing: run make deps")
    result = subprocess.run([str(SAM), *words, "--help"], capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        return None
    return frozenset(re.findall(r"(?<![\w-])--[a-z0-9][a-z0-9-]*", result.stdout))


@functools.cache
def curl_options() -> frozenset[str]:
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("the runbook's curl commands are checked against curl --help all: install curl")
    result = subprocess.run([curl, "--help", "all"], capture_output=True, text=True, check=True)
    return frozenset(re.findall(r"(?<![\w-])(-[A-Za-z0-9]|--[a-z0-9][a-z0-9-]*)", result.stdout))


@functools.cache
def samconfig() -> dict:
    return tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))


def samconfig_environments() -> set[str]:
    return {name for name, value in samconfig().items() if isinstance(value, dict)}


def samconfig_stack_names() -> set[str]:
    return {samconfig()[env]["global"]["parameters"]["stack_name"] for env in samconfig_environments()}


def samconfig_overrides(environment: str) -> list[str]:
    overrides = samconfig()[environment]["deploy"]["parameters"].get("parameter_overrides", "")
    return [item.split("=", 1)[0] for item in shlex.split(overrides)]


# -- the tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda path: path.name)
def test_every_command_of_the_runbook_is_exercised_or_marked_and_checked_offline(path):
    assert problems_in(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda path: path.name)
def test_the_runbook_has_commands_of_both_kinds(path):
    # given the runbook; when its commands are read; then the parser found them (an empty list
    # would pass the test above for nothing)
    found, problems = commands(path.read_text(encoding="utf-8"))
    assert problems == []
    assert sum(command.needs_aws for command in found) >= 10
    assert sum(not command.needs_aws for command in found) >= 2
    assert any(command.text.startswith("aws secretsmanager put-secret-value") for command in found)


def runbook(*lines: str) -> str:
    return "Some prose.\n\n```bash\n" + "\n".join(lines) + "\n```\n"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["aws secretsmanager put-secret-value --secret-id x --secret-strng y  " + MARKER], "no option --secret-strng"),
        (["aws secretsmanager put-secret-value --secret-string y  " + MARKER], "needs --secret-id"),
        (["aws sns subscribe --topic-arn t --protocol email --endpoint a@example.com  " + MARKER], "--endpoint"),
        (["aws secretsmanager put-secrets --secret-id x  " + MARKER], "no operation 'put-secrets'"),
        (["aws secretmanager get-secret-value --secret-id x  " + MARKER], "no service 'secretmanager'"),
        (["aws secretsmanager get-secret-value --secret-id x"], "needs an AWS account"),
        (['make deploy ARGS="--no-such-option"  ' + MARKER], "sam deploy has no option --no-such-option"),
        (['make sam ARGS="logz --tail"  ' + MARKER], "sam has no command 'logz'"),
        (["make deploy ENV=staging  " + MARKER], "ENV=staging"),
        (["make no-such-target  " + MARKER], "make no-such-target does not run"),
        (["make deploy"], "neither run by make test nor marked"),
        (["make deploycheck  " + MARKER], "drop the mark"),
        (['make deploy ARGS="--parameter-overrides AlarmEmail=a@example.com"  ' + MARKER], "repeat ['ApiAuth'"),
        (['make deploy ARGS="--parameter-overrides Stage=staging ApiAuth=AWS_IAM Currency=CLP"  ' + MARKER], "Stage"),
        (["curl --no-such-flag https://example.com  " + MARKER], "curl has no option --no-such-flag"),
        (["python3 -c 'print(1)'"], "add it to ONE_LINERS"),
        (["python3 -c 'import secrets; print(secrets.choice(\"ab\"))'"], "not 48 letters and digits"),
        (["rm -rf /tmp/nothing-here"], "add it to tests/repo/test_runbook.py"),
        (['aws sqs purge-queue --queue-url "$QUEUE"  ' + MARKER], "$QUEUE is used before any command sets it"),
        (["STACK=some-other-stack"], "no stack of samconfig.toml"),
        (['make ops ARGS="--stack s reveiws"  ' + MARKER], "invalid choice: 'reveiws'"),
        (['make ops ARGS="--stack s resolve OC-1 --resolution refund --note x"  ' + MARKER], "--resolution"),
        (['make ops ARGS="--stack s redeliver <event id>"  ' + MARKER], "redeliver <event id>"),
        (['make ops ARGS="--stack s reviews"'], "neither run by make test nor marked"),
        (["aws sqs purge-queue \\", "  --queue-url x --bogus  " + MARKER], "no option --bogus"),
    ],
)
def test_a_wrong_command_in_the_runbook_fails_the_check(lines, expected):
    # given a runbook with one wrong command; when it is checked; then the problem is named
    problems = problems_in(runbook(*lines))
    assert any(expected in problem for problem in problems), problems


def test_an_unlabelled_block_fails_the_check():
    assert any("label it bash" in problem for problem in problems_in("```\naws s3 ls\n```\n"))


def test_right_commands_pass_the_check():
    # given commands like the runbook's, right; when checked; then no problem
    assert (
        problems_in(
            runbook(
                "STACK=etpay-payments-sandbox  # a comment",
                'QUEUE="$(aws cloudformation describe-stacks --stack-name "$STACK" --output text \\',
                '  --query "Stacks[0].Outputs[?OutputKey==\'ReconcileFailuresQueueUrl\'].OutputValue")"  ' + MARKER,
                'aws sqs purge-queue --queue-url "$QUEUE"  ' + MARKER,
                'aws secretsmanager put-secret-value --secret-id x --secret-string \'{"a":',
                '  "b"}\'  ' + MARKER,
                "make deploycheck",
                "make deploy ENV=production  " + MARKER,
                "make ops ARGS=\"--stack $STACK resolve OC-1 --resolution refunded --note 'done'\"  " + MARKER,
            )
        )
        == []
    )
