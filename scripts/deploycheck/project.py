"""Where the check's inputs live, and the account it pretends to deploy to."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# The switches and the values to try: the one place a new template switch is declared.
SWITCHES = ROOT / "deploycheck.yaml"
# Accepted lint findings, each with its reason.
SKIPS = ROOT / "deploycheck-skips.yaml"
# Its environments' parameter_overrides are what `make deploy` sends: they are checked too.
SAMCONFIG = ROOT / "samconfig.toml"
DEFAULT_OUT = ROOT / ".aws-sam" / "deploycheck"

# Pseudo parameters as CloudFormation would give them; any account and region will do, the
# template must not depend on which.
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
# As long as CloudFormation allows (128 characters): every name derived from it is then checked at
# its longest, by cfn-lint's limits and by tests/deploy.
STACK_NAME = "etpay-payments-deploycheck-" + "x" * (128 - len("etpay-payments-deploycheck-"))
PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::StackName": STACK_NAME,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
