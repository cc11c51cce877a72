"""The failures `make deploycheck` reports; each message says what to change."""


class DeploycheckError(Exception):
    """Anything that makes the check fail."""


class SwitchesError(DeploycheckError):
    """deploycheck.yaml (or samconfig.toml) and template.yaml disagree."""


class ExpansionError(DeploycheckError):
    """One combination of parameters does not expand: CloudFormation would refuse that deploy."""


class UnsupportedExpression(DeploycheckError):
    """A Condition or Rule uses a function this check cannot evaluate offline."""


class ToolError(DeploycheckError):
    """cfn-lint or checkov did not run to the end, or answered something unreadable."""


class SkipsError(DeploycheckError):
    """deploycheck-skips.yaml is malformed, or lists findings that no longer occur."""
