"""Shopify's published Admin GraphQL schema of the oldest supported version, and checks against it."""

from __future__ import annotations

import gzip
import json
from functools import cache
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLSchema,
    OperationDefinitionNode,
    ParallelVisitor,
    TypeInfo,
    TypeInfoVisitor,
    build_client_schema,
    parse,
    visit,
)
from graphql.error import GraphQLError
from graphql.execution.values import get_variable_values
from graphql.validation import NoDeprecatedCustomRule, ValidationContext, specified_rules

from integration.settings import OLDEST_SHOPIFY_API_VERSION
from tests.support.shopify import FIXTURES

SCHEMA_FILE = FIXTURES / f"admin_{OLDEST_SHOPIFY_API_VERSION}.json.gz"


@cache
def admin_schema() -> GraphQLSchema:
    """The Admin API schema built from Shopify's introspection result (see tests/fixtures/shopify)."""
    with gzip.open(SCHEMA_FILE) as handle:
        introspection = json.load(handle)
    return build_client_schema(introspection["data"])


def _validate(document: DocumentNode, rules: Any) -> list[str]:
    # graphql.validate() first checks the schema itself; Shopify's breaks one rule that does not
    # concern documents (deprecated fields implementing undeprecated interface fields).
    schema = admin_schema()
    errors: list[GraphQLError] = []
    type_info = TypeInfo(schema)
    context = ValidationContext(schema, document, type_info, errors.append)
    visit(document, TypeInfoVisitor(type_info, ParallelVisitor([rule(context) for rule in rules])))
    return [error.message for error in errors]


def problems(text: str, variables: dict[str, Any] | None = None) -> list[str]:
    """Why Shopify would refuse this document with these variables (nothing: it would accept it).

    Deprecated fields count too: Shopify removes them in a later version.
    """
    try:
        document = parse(text)
    except GraphQLError as exc:
        return [exc.message]
    found = _validate(document, [*specified_rules, NoDeprecatedCustomRule])
    if found:
        return found
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    definitions = operation.variable_definitions or ()
    defined = {d.variable.name.value for d in definitions}
    unknown = [
        f"variable ${name} is not defined by the operation" for name in variables or {} if name not in defined
    ]
    coerced = get_variable_values(admin_schema(), definitions, variables or {})
    return unknown + ([error.message for error in coerced] if isinstance(coerced, list) else [])


def operation_of(text: str) -> str:
    """`query` or `mutation`: the kind of the document's one operation."""
    [operation] = [d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode)]
    return operation.operation.value
