"""How the deployed API authorizes each route, in every combination of the template's switches.

Read from the templates CloudFormation would deploy: scripts/deploycheck expands template.yaml
through AWS::LanguageExtensions and the SAM transform (in .venv-sam's interpreter, the only one
with aws-sam-cli; the `deployed` fixture of deploy_expansion.py), and the tests read each translated
RestApi's OpenAPI body.
"""

from typing import Any

import pytest

from local.emulator.template import routes

SESSIONS = ("POST", "/sessions")
ORDERS = ("GET", "/orders/{merchant_order_id}")
NOTIFICATIONS = ("POST", "/notifications")

# (authorization type, API key required) of every API method, per ApiAuth. The merchant backend
# signs (SigV4) or sends a key; ETpay can do neither, its notification's JWT is the proof.
# Every other route of the template is the merchant's (sessions, orders, events).
MERCHANT_ROUTE = {"AWS_IAM": ("AWS_IAM", False), "API_KEY": ("NONE", True)}
EXPECTED = {
    mode: {
        (route.method, route.path): ("NONE", False) if (route.method, route.path) == NOTIFICATIONS else merchant
        for route in routes()
    }
    for mode, merchant in MERCHANT_ROUTE.items()
}

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
