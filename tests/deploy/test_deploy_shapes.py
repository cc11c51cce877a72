"""How the deployed API authorizes each route, in every combination of the template's switches.

Read from the templates CloudFormation would deploy: scripts/deploycheck expands template.yaml
through AWS::LanguageExtensions and the SAM transform (in .venv-sam's interpreter, the only one
with aws-sam-cli; the `deployed` fixture of deploy_expansion.py), and the tests read each translated
RestApi's OpenAPI body.
"""

import itertools
import json
import os
import subprocess
from fnmatch import fnmatchcase
from typing import Any

import pytest
import yaml

from local.emulator.template import ROOT, routes
from scripts.deploycheck import output
from scripts.deploycheck.project import ACCOUNT_ID, REGION
from tests.deploy.expanded_templates import of_type, only

SESSIONS = ("POST", "/sessions")
ORDERS = ("GET", "/orders/{merchant_order_id}")
NOTIFICATIONS = ("POST", "/notifications")
ORDER_EVENTS = ("GET", "/orders/{merchant_order_id}/events")
EVENT = ("GET", "/events/{event_id}")
REDELIVER = ("POST", "/events/{event_id}/redeliver")
LIST_REVIEWS = ("GET", "/reviews")
RESOLVE_REVIEW = ("POST", "/orders/{merchant_order_id}/review")
# The operators' review queue: SigV4 in every ApiAuth mode, so no API key opens it.
OPERATOR_ONLY = {LIST_REVIEWS, RESOLVE_REVIEW}

# (authorization type, API key required) of every API method, per ApiAuth. The merchant backend
# signs (SigV4) or sends a key; ETpay can do neither, its notification's JWT is the proof; the
# operators always sign. Every other route of the template is the merchant's (sessions, orders,
# events).
MERCHANT_ROUTE = {"AWS_IAM": ("AWS_IAM", False), "API_KEY": ("NONE", True)}
EXPECTED = {
    mode: {
        (route.method, route.path): (
            ("NONE", False)
            if (route.method, route.path) == NOTIFICATIONS
            else ("AWS_IAM", False)
            if (route.method, route.path) in OPERATOR_ONLY
            else merchant
        )
        for route in routes()
    }
    for mode, merchant in MERCHANT_ROUTE.items()
}

# The routes each managed policy opens, per ApiAuth: a policy opens only methods whose auth is
# SigV4 in that mode (with API_KEY the merchant's routes take the key, and no policy is checked).
MERCHANT_POLICY = {"AWS_IAM": {SESSIONS, ORDERS, ORDER_EVENTS, EVENT, REDELIVER}, "API_KEY": None}
OPERATOR_POLICY = {
    "AWS_IAM": {LIST_REVIEWS, RESOLVE_REVIEW, ORDERS, ORDER_EVENTS, EVENT},
    "API_KEY": {LIST_REVIEWS, RESOLVE_REVIEW},
}
API_ID = "a1b2c3d4e5"
# Path parameter values a caller may send (openapi.yaml's patterns), the awkward ones included: an
# order id that spells another route's segment.
PARAMETER_VALUES = {
    "merchant_order_id": ["OC-700104", "review", "events", "x"],
    "event_id": ["evt_" + "0" * 32],
}
OPENAPI = ROOT / "openapi.yaml"
# The interpreter with aws-sam-cli (as deploy_expansion.py finds it).
SAM_PYTHON = ROOT / os.environ.get("SAM_VENV", ".venv-sam") / "bin" / "python"

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method"}
AUTHORIZER_TYPES = {"token": "CUSTOM", "request": "CUSTOM", "cognito_user_pools": "COGNITO_USER_POOLS"}


def test_both_api_auth_modes_are_among_the_combinations(deployed):
    assert {entry.parameters["ApiAuth"] for entry, _ in deployed} == set(EXPECTED)


def test_every_api_method_is_authorized_as_its_api_auth_mode_says(deployed):
    for entry, template in deployed:
        assert api_methods(template) == EXPECTED[entry.parameters["ApiAuth"]], entry.overrides


def test_a_usage_plan_and_an_api_key_exist_only_in_api_key_mode(deployed):
    for entry, template in deployed:
        types = {resource["Type"] for resource in template["Resources"].values()}
        wanted = entry.parameters["ApiAuth"] == "API_KEY"
        assert ("AWS::ApiGateway::UsagePlan" in types) is wanted, entry.overrides
        assert ("AWS::ApiGateway::ApiKey" in types) is wanted, entry.overrides


def test_the_review_routes_take_sigv4_in_every_mode_and_openapi_says_so(deployed):
    contract = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    for method, path in OPERATOR_ONLY:
        # SigV4 alone: an API key is no alternative for these routes, whatever ApiAuth says.
        assert contract["paths"][path][method.lower()]["security"] == [{"sigv4": []}], (method, path)
    for entry, template in deployed:
        methods = api_methods(template)
        for route in OPERATOR_ONLY:
            assert methods[route] == ("AWS_IAM", False), (route, entry.overrides)


def test_every_route_but_the_review_routes_offers_the_contracts_merchant_auth():
    contract = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    for route in routes():
        key = (route.method, route.path)
        security = contract["paths"][route.path][route.method.lower()]["security"]
        if key == NOTIFICATIONS:
            assert security == [], key
        elif key not in OPERATOR_ONLY:
            assert security == [{"sigv4": []}, {"api_key": []}], key


def test_each_managed_policy_opens_exactly_its_routes_and_nothing_of_the_others(deployed):
    every_route = {(route.method, route.path) for route in routes()}
    for entry, template in deployed:
        mode = entry.parameters["ApiAuth"]
        api_name, _ = only(template, "AWS::ApiGateway::RestApi")
        policies = of_type(template, "AWS::IAM::ManagedPolicy")
        assert set(policies) == {"OperatorApiPolicy"} | ({"MerchantApiPolicy"} if mode == "AWS_IAM" else set())
        expected = {"MerchantApiPolicy": MERCHANT_POLICY[mode], "OperatorApiPolicy": OPERATOR_POLICY[mode]}
        for name, wanted in expected.items():
            if wanted is None:
                continue
            patterns = policy_patterns(policies[name], api_name)
            opened = {route for route in every_route if opens(patterns, route, entry)}
            assert opened == wanted, (name, sorted(opened ^ wanted), entry.overrides)
            # Every request ARN of a route it must not open, whatever the path parameters, is refused.
            for route in every_route - wanted:
                for arn in request_arns(route, entry.parameters["Stage"]):
                    assert not any(fnmatchcase(arn, pattern) for pattern in patterns), (name, arn, patterns)
        # And the outputs name them, to attach.
        outputs = template["Outputs"]
        assert outputs["OperatorApiPolicyArn"]["Value"] == {"Ref": "OperatorApiPolicy"}
        assert ("MerchantApiPolicyArn" in outputs) is (mode == "AWS_IAM"), entry.overrides


def test_the_policy_check_sees_a_pattern_that_spans_another_policys_route():
    # Given a pattern for GET /orders/{id} written too wide (any method under /orders)
    patterns = [f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/sandbox/*/orders/*"]
    entry = type("Entry", (), {"parameters": {"Stage": "sandbox"}})()
    # then it opens the operators' POST /orders/{id}/review too, which the check reports
    assert opens(patterns, RESOLVE_REVIEW, entry)
    assert not opens(patterns, LIST_REVIEWS, entry)


def policy_patterns(policy: dict[str, Any], api_name: str) -> list[str]:
    """The policy's resource ARNs with this API's id put in (CloudFormation's Fn::Sub)."""
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "execute-api:Invoke", statement
    assert "Condition" not in statement and "NotResource" not in statement
    patterns = []
    for resource in statement["Resource"]:
        text = resource["Fn::Sub"]
        assert isinstance(text, str) and text.count("${") == 1 and f"${{{api_name}}}" in text, resource
        patterns.append(text.replace(f"${{{api_name}}}", API_ID))
    return patterns


def request_arns(route: tuple[str, str], stage: str) -> list[str]:
    """The execute-api ARNs of requests to `route`, one per combination of sample path values."""
    method, path = route
    names = [segment[1:-1] for segment in path.split("/") if segment.startswith("{")]
    arns = []
    for values in itertools.product(*(PARAMETER_VALUES[name] for name in names)):
        concrete = path
        for name, value in zip(names, values, strict=True):
            concrete = concrete.replace(f"{{{name}}}", value)
        arns.append(f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{stage}/{method}{concrete}")
    return arns


def opens(patterns: list[str], route: tuple[str, str], entry) -> bool:
    """Whether the patterns allow every request to the route (IAM matches ARNs as fnmatch does,
    case-sensitively, * across "/")."""
    arns = request_arns(route, entry.parameters["Stage"])
    allowed = [any(fnmatchcase(arn, pattern) for pattern in patterns) for arn in arns]
    assert all(allowed) or not any(allowed), f"{route} opened for some path values only: {patterns}"
    return all(allowed)


def api_methods(template: dict[str, Any]) -> dict[tuple[str, str], tuple[str, bool]]:
    """(METHOD, path) -> (authorization type, API key required) of every method of every RestApi."""
    bodies = [
        resource["Properties"]["Body"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ApiGateway::RestApi"
    ]
    assert bodies, "no AWS::ApiGateway::RestApi with an OpenAPI Body"
    methods = {}
    for body in bodies:
        for path, item in body["paths"].items():
            for method, operation in item.items():
                if method in HTTP_METHODS:
                    name = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                    methods[(name, path)] = authorization(body, operation)
    return methods


def authorization(body: dict[str, Any], operation: dict[str, Any]) -> tuple[str, bool]:
    """What API Gateway makes of an operation's `security` (or the API-wide one), as it imports
    the OpenAPI body: the authorization type, and whether an x-api-key is required."""
    schemes = body.get("securityDefinitions", {})
    types, key_required = set(), False
    for requirement in operation.get("security", body.get("security", [])):
        for name in requirement:
            # SAM marks a route with Authorizer: NONE by a scheme it never defines.
            if name == "NONE":
                continue
            scheme = schemes[name]
            if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4":
                types.add("AWS_IAM")
            elif "x-amazon-apigateway-authorizer" in scheme:
                types.add(AUTHORIZER_TYPES[scheme["x-amazon-apigateway-authorizer"]["type"]])
            elif scheme.get("type") == "apiKey" and scheme.get("name", "").lower() == "x-api-key":
                key_required = True
            else:
                pytest.fail(f"security scheme {name} is neither SigV4, an authorizer nor an API key: {scheme}")
    if "x-amazon-apigateway-auth" in operation:
        types.add(operation["x-amazon-apigateway-auth"]["type"].upper())
    assert len(types) <= 1, f"several authorization types at once: {types}"
    return (types.pop() if types else "NONE"), key_required


def test_the_expansion_that_runs_the_sam_transform_once_per_distinct_input_gives_what_a_fresh_one_gives(expansion):
    """scripts/deploycheck reuses the SAM transform's result across combinations that hand it the
    same input; expanding a sample of them afresh, one by one, must give the same templates."""
    entries = [entry for entry in expansion.entries if entry.outcome == output.EXPANDED]
    # Every 97th, so every switch takes both values among them.
    sample = entries[::97]
    code = (
        "import json, sys\n"
        "from samcli.yamlhelper import yaml_parse\n"
        "from scripts.deploycheck import expand\n"
        "from scripts.deploycheck.project import TEMPLATE\n"
        "expand.isolate_from_aws()\n"
        "package = expand.packaged(yaml_parse(TEMPLATE.read_text()))\n"
        "for values in json.load(sys.stdin):\n"
        "    print(json.dumps(expand.expand(package, values), sort_keys=True))\n"
    )
    result = subprocess.run(
        [str(SAM_PYTHON), "-c", code],
        input=json.dumps([entry.parameters for entry in sample]),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    fresh = result.stdout.splitlines()
    assert len(fresh) == len(sample) >= 8
    for entry, template in zip(sample, fresh, strict=True):
        stored = json.loads((expansion.out / entry.template).read_text(encoding="utf-8"))
        assert json.loads(template) == stored, entry.overrides
