"""template.yaml as CloudFormation expands it at deploy, offline: AWS::LanguageExtensions (sam-cli's
port of it), then the SAM transform (aws-sam-translator, what CloudFormation's SAM transform runs).

Only the interpreter of `.venv-sam` can import this module.
"""

import copy
import hashlib
import json
import logging
import os
import re
from typing import Any

# aws-sam-cli (samcli, samtranslator) is installed in .venv-sam only, not in the venv mypy checks with.
from samcli.lib.cfn_language_extensions.api import (  # type: ignore[import-not-found]
    IntrinsicResolverProcessor,
    create_default_intrinsic_resolver,
    create_default_pipeline,
)
from samcli.lib.cfn_language_extensions.exceptions import InvalidTemplateException  # type: ignore[import-not-found]
from samcli.lib.cfn_language_extensions.models import (  # type: ignore[import-not-found]
    PseudoParameterValues,
    ResolutionMode,
    TemplateProcessingContext,
)
from samcli.lib.cfn_language_extensions.pipeline import ProcessingPipeline  # type: ignore[import-not-found]
from samcli.lib.cfn_language_extensions.processors import (  # type: ignore[import-not-found]
    DeletionPolicyProcessor,
    ForEachProcessor,
    TemplateParsingProcessor,
    UpdateReplacePolicyProcessor,
)
from samcli.lib.cfn_language_extensions.resolvers import FnSubResolver, IntrinsicResolver  # type: ignore[import-not-found]
from samcli.lib.cfn_language_extensions.resolvers.fn_sub import PLACEHOLDER_PATTERN  # type: ignore[import-not-found]
from samtranslator.model.exceptions import ExceptionWithMessage, InvalidDocumentException  # type: ignore[import-not-found]
from samtranslator.translator.transform import transform  # type: ignore[import-not-found]

from . import guard, logic
from .errors import ExpansionError
from .project import ACCOUNT_ID, PSEUDO_PARAMETERS, REGION, STACK_NAME

LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
SAM = "AWS::Serverless-2016-10-31"

# What `sam package` uploads and replaces with an S3 URI before CloudFormation sees the template.
PACKAGED = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


def isolate_from_aws() -> None:
    """The SAM translator reads its region from boto3. Give it ours, and no credentials or config
    files: an AWS call, if anything tried one, fails at once instead of reaching an account."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    # The translator records metrics for CloudFormation's own service; here they go nowhere, and
    # it says so on stderr at exit.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """The template as `sam package` hands it to CloudFormation: local artifacts become S3 URIs."""
    template = copy.deepcopy(template)
    for name, resource in (template.get("Resources") or {}).items():
        prop = PACKAGED.get(resource.get("Type"))
        properties = resource.get("Properties") or {}
        if prop is None or not isinstance(properties.get(prop), str) or properties[prop].startswith("s3://"):
            continue
        properties[prop] = f"s3://deploycheck-artifacts/{name}.zip"
    return template


def expand(template: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The CloudFormation template that deploying `template` (already packaged) with these
    parameter values would create, without the resources whose Condition is false."""
    return Expander(template).expand(values)


class Expander:
    """`expand`, for many parameter sets of one template: the SAM transform (four fifths of the
    time) runs once per distinct input it would see.

    What the SAM transform makes of a template depends on the template LanguageExtensions hands it
    and on the values of the parameters that template still refers to (SAM resolves a Ref or a
    ${Parameter} only where it meets one); dropping the resources of false Conditions depends on
    the Conditions' values. Parameter sets that agree on all three get the same result: the first
    one's, computed once. A refusal is remembered too, so every set that would meet it reports it.
    """

    def __init__(self, template: dict[str, Any]):
        self._template = template
        transforms = template.get("Transform") or []
        self._transforms = [transforms] if isinstance(transforms, str) else list(transforms)
        unknown = set(self._transforms) - {LANGUAGE_EXTENSIONS, SAM}
        if unknown:
            raise ExpansionError(f"cannot expand the transforms {sorted(unknown)} offline")
        self._done: dict[str, dict[str, Any] | ExpansionError] = {}
        self.transforms_run = 0

    def expand(self, values: dict[str, str]) -> dict[str, Any]:
        """As `expand`; the result may be shared with other parameter sets: read it, never change it."""
        expanded = copy.deepcopy(self._template)
        try:
            if LANGUAGE_EXTENSIONS in self._transforms:
                expanded = _language_extensions(expanded, values)
                expanded["Transform"] = [name for name in self._transforms if name != LANGUAGE_EXTENSIONS]
        except InvalidTemplateException as error:
            raise ExpansionError(str(getattr(error, "message", error))) from error
        key = _sam_input_key(expanded, values)
        if key not in self._done:
            self._done[key] = self._sam(expanded, values)
        result = self._done[key]
        if isinstance(result, ExpansionError):
            raise ExpansionError(str(result))
        return result

    def _sam(self, expanded: dict[str, Any], values: dict[str, str]) -> dict[str, Any] | ExpansionError:
        self.transforms_run += 1
        try:
            if SAM in self._transforms:
                expanded = transform(expanded, dict(values), _NoManagedPolicyLookup())
        except InvalidDocumentException as error:
            return ExpansionError("; ".join(cause.message for cause in error.causes))
        except (ExceptionWithMessage, InvalidTemplateException) as error:
            return ExpansionError(str(getattr(error, "message", error)))
        return _created(expanded, values)


def _sam_input_key(expanded: dict[str, Any], values: dict[str, str]) -> str:
    """Everything the SAM transform and `_created` read of one parameter set (see Expander)."""
    conditions = expanded.get("Conditions") or {}
    known = values | PSEUDO_PARAMETERS
    outcome = {name: logic.holds({"Condition": name}, known, conditions) for name in sorted(conditions)}
    body = {section: content for section, content in expanded.items() if section not in ("Conditions", "Rules")}
    referenced = sorted(guard.referenced_parameters(body) & set(values))
    canonical = json.dumps(
        [expanded, outcome, {name: values[name] for name in referenced}], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _created(template: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    # CloudFormation does not create what a false Condition guards; LanguageExtensions has already
    # blanked those resources' references, so linting them would only report its blanks. What a
    # true Condition guards exists in this deploy as surely as anything else: without the
    # Condition, linters stop warning that references to it may dangle (they cannot evaluate it).
    conditions = template.get("Conditions") or {}
    values = values | PSEUDO_PARAMETERS
    for section in ("Resources", "Outputs"):
        if section in template:
            template[section] = {
                name: {key: value for key, value in entry.items() if key != "Condition"}
                for name, entry in template[section].items()
                if "Condition" not in entry or logic.holds({"Condition": entry["Condition"]}, values, conditions)
            }
    return template


class _NoManagedPolicyLookup:
    """The translator asks IAM for managed policy ARNs it does not ship; this check asks nobody
    (the bundled map still resolves AWS's own policy names)."""

    def load(self) -> dict[str, str]:
        return {}


def _language_extensions(template: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    context = TemplateProcessingContext(
        fragment=template,
        parameter_values=dict(values),
        pseudo_parameters=PseudoParameterValues(region=REGION, account_id=ACCOUNT_ID, stack_name=STACK_NAME),
        resolution_mode=ResolutionMode.PARTIAL,
    )
    return _pipeline(context).process_template(context)


def _pipeline(context: TemplateProcessingContext) -> ProcessingPipeline:
    """sam-cli's default LanguageExtensions pipeline, with Fn::Sub resolved as CloudFormation does."""
    intrinsics = IntrinsicResolver(context)
    for resolver in create_default_intrinsic_resolver(context).resolvers:
        is_sub = isinstance(resolver, FnSubResolver)
        intrinsics.register_resolver(_SubKeepingReferences if is_sub else type(resolver))
    processors = [
        TemplateParsingProcessor(),
        ForEachProcessor(intrinsic_resolver=intrinsics),
        IntrinsicResolverProcessor(intrinsics),
        DeletionPolicyProcessor(),
        UpdateReplacePolicyProcessor(),
    ]
    default = [type(processor) for processor in create_default_pipeline(context).processors]
    if [type(processor) for processor in processors] != default:
        raise ExpansionError(f"sam-cli's LanguageExtensions pipeline is now {default}: update expand.py to match")
    return ProcessingPipeline(processors)


class _SubKeepingReferences(FnSubResolver):
    """Fn::Sub with parameters and pseudo parameters substituted, still an Fn::Sub while a
    placeholder names a resource or an attribute.

    sam-cli 1.170.0's own resolver drops the Fn::Sub there: "/aws/lambda/${Function}" comes out a
    plain string, which CloudFormation would take literally. Its LanguageExtensions keeps the Fn::Sub.
    """

    def resolve(self, value: dict[str, Any]) -> Any:
        text, variables = self._parse_args(self.get_function_args(value))
        variables = self._resolve_variable_map(variables)
        known = {}
        for match in PLACEHOLDER_PATTERN.finditer(text):
            name = match.group(1)
            if not name.startswith("!"):
                known[name] = self._resolve_variable(name, variables)
        unresolved = {name for name, resolved in known.items() if resolved is None or isinstance(resolved, dict)}
        if not unresolved:
            return super().resolve(value)

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!") or name in unresolved:
                return match.group(0)
            # Still inside an Fn::Sub: a "${" in a substituted value must stay literal.
            return self._value_to_string(known[name]).replace("${", "${!")

        text = PLACEHOLDER_PATTERN.sub(substitute, text)
        remaining = {name: variables[name] for name in sorted(unresolved) if name in variables}
        return {"Fn::Sub": [text, remaining] if remaining else text}
