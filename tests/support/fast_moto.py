"""moto, faster where the suite spends its time, answering exactly as before.

Most of the unit tier's CPU goes to moto, and most of that to the same few pure computations done
again on every request. Each change below remembers or skips one of them; each is a pure function
of what it remembers, or a check whose outcome is implied by one still made. Every name is looked
up when installed, so a moto that renames one fails here instead of silently running slower
(tests/integration/test_fast_moto.py checks that moto still refuses what DynamoDB refuses and
reads back every kind of value as written).
"""

import functools
from typing import Any

from moto.core import responses
from moto.core import serialize as _serialize
from moto.dynamodb.parsing import ast_nodes as _ast_nodes
from moto.dynamodb.parsing import expressions as _expressions
from moto.dynamodb.parsing import validators

# The parsing modules are untyped inside (`# type: ignore` at their top), and the serializer's
# methods are replaced: all used as untyped.
ast_nodes: Any = _ast_nodes
expressions: Any = _expressions
serialize: Any = _serialize

# How many distinct update expressions are remembered: the product writes a few dozen.
PARSED_EXPRESSIONS = 1024


def install() -> None:
    # moto finds each request's action by listing its response class's methods
    # (inspect.getmembers) and converting the action's name, on every request: a third of a
    # millisecond each. Both are pure functions of a class and a name.
    responses.method_names_from_class = functools.cache(responses.method_names_from_class)
    responses.camelcase_to_underscores = functools.cache(responses.camelcase_to_underscores)

    # An UpdateExpression is parsed twice per UpdateItem (about 0.7 ms each). The tree is only read
    # afterwards: the validator works on its own deep copy. A parse error is raised, never kept.
    parse: Any = functools.lru_cache(PARSED_EXPRESSIONS)(expressions.UpdateExpressionParser.make.__func__)
    expressions.UpdateExpressionParser.make = classmethod(parse)

    # Each of the validator's ten passes asks, for every node of the tree, which node types it
    # handles, rebuilding its handler table each time; the types depend on the pass's class only.
    ast_nodes.DepthFirstTraverser.nodes_to_be_processed = _node_types

    # The two passes counting clauses and looking for overlapping paths run at every sub-expression
    # of the tree, each collecting every clause below it: quadratic in the number of actions (most
    # of an UpdateItem's time here). A sub-expression's clauses are among the whole expression's,
    # so whatever a sub-expression breaks the whole one breaks too: checked once, at the root.
    validators.ActionCountValidator.traverse = _root_only
    validators.OverlappingPathsValidator.traverse = _root_only

    # A response is serialised member by member of its botocore shape, each looked up in moto's
    # result under every alias a chain of providers proposes (built anew for each member of each
    # value: ten members per DynamoDB attribute value). For a plain dict the aliases depend only on
    # the member's name and its shape: remembered per shape, which the cache keeps alive.
    serialize.XFormedAttributePicker.get_possible_keys = _possible_keys


_NODE_TYPES: dict[type, tuple[type, ...]] = {}


def _node_types(traverser: Any) -> tuple[type, ...]:
    kinds = _NODE_TYPES.get(type(traverser))
    if kinds is None:
        kinds = _NODE_TYPES[type(traverser)] = tuple(traverser._processing_map())
    return kinds


def _root_only(traverser: Any, node: Any) -> Any:
    return traverser.process(node) if isinstance(node, ast_nodes.UpdateExpression) else node


_ALIASES = serialize.XFormedAttributePicker.get_possible_keys
_KEYS: dict[tuple[Any, ...], tuple[Any, Any, tuple[str, ...]]] = {}


def _possible_keys(picker: Any, context: Any) -> Any:
    if type(context.obj) is not dict:
        return _ALIASES(picker, context)
    shape = context.shape
    parent = getattr(shape, "parent", None)
    key = (type(picker), context.key, id(shape), id(parent))
    cached = _KEYS.get(key)
    if cached is None:
        # The shapes are kept with their keys: their ids cannot be reused while cached.
        cached = _KEYS[key] = (shape, parent, tuple(_ALIASES(picker, context)))
    return cached[2]
