"""Translate template.yaml offline, as CloudFormation would before creating anything: the
AWS::LanguageExtensions transform (samcli's local implementation), then the SAM transform
(samtranslator). A template that fails here fails `sam deploy` too.

Runs in the SAM CLI's own venv (it brings samtranslator and samcli):

    AWS_DEFAULT_REGION=us-east-1 .venv-sam/bin/python scripts/translate_template.py \
        [--parameter MerchantWebhookUrl=https://merchant.example/webhooks ...] [--output translated.json]

Prints the translated template's resource count per type (or writes the whole of it with
--output). Exit status 1 with the transform's own message when a step refuses the template.

Known quirk of the local LanguageExtensions: a `!Sub` naming `${Resource.Attr}` comes out as a
bare string. CloudFormation resolves it at deploy time; nothing here depends on it.
"""

import argparse
import copy
import json
import sys
from collections import Counter
from pathlib import Path

# aws-sam-cli (samcli, samtranslator) is installed in .venv-sam only, not in the venv mypy checks with.
from samcli.lib.cfn_language_extensions.api import process_template  # type: ignore[import-not-found]
from samcli.lib.cfn_language_extensions.models import PseudoParameterValues, ResolutionMode  # type: ignore[import-not-found]
from samcli.yamlhelper import yaml_parse  # type: ignore[import-not-found]
from samtranslator.translator.transform import transform  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "etpay-payments-translate"
PACKAGED_CODE = "s3://bucket/key.zip"


class _NoManagedPolicies:
    """samtranslator's managed policy loader: no AWS account here, so nothing to look up."""

    def load(self) -> dict:
        return {}


def packaged(template: dict) -> dict:
    """As `sam package` leaves it: every function's code and layer's content in S3."""
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = PACKAGED_CODE
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = PACKAGED_CODE
    return template


def translate(parameters: dict[str, str]) -> dict:
    with open(TEMPLATE, encoding="utf-8") as handle:
        template = packaged(yaml_parse(handle.read()))
    expanded = process_template(
        template,
        parameter_values=parameters,
        pseudo_parameters=PseudoParameterValues(region=REGION, account_id=ACCOUNT_ID, stack_name=STACK_NAME),
        resolution_mode=ResolutionMode.PARTIAL,
    )
    transforms = expanded.get("Transform")
    if isinstance(transforms, list):
        expanded["Transform"] = [name for name in transforms if name != "AWS::LanguageExtensions"]
    return transform(expanded, parameters, _NoManagedPolicies())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--output", type=Path, help="write the translated template here (JSON)")
    args = parser.parse_args(argv)
    parameters = dict(item.split("=", 1) for item in args.parameter)
    try:
        translated = translate(parameters)
    except Exception as error:  # noqa: BLE001 - any refusal of either transform is the answer
        sys.stderr.write(f"translation failed: {type(error).__name__}: {error}\n")
        return 1
    if args.output:
        args.output.write_text(json.dumps(translated, indent=1, sort_keys=True, default=str))
    counts = Counter(resource["Type"] for resource in translated["Resources"].values())
    for resource_type, count in sorted(counts.items()):
        sys.stdout.write(f"{count:3d} {resource_type}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
