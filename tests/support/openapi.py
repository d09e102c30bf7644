"""Check requests against a vendor's published OpenAPI 3.0 document (path, method, headers, query, body)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from openapi_schema_validator import OAS30Validator

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openapi"


def load(name: str) -> dict[str, Any]:
    """A published document kept under tests/fixtures/openapi (JSON, gzipped when large)."""
    path = FIXTURES / name
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as file:
        loaded: dict[str, Any] = json.load(file)
    return loaded


class OpenApi:
    """The operations of one document, with the server prefix requests are sent under."""

    def __init__(self, document: dict[str, Any], base_url: str) -> None:
        self.document = document
        self.base = urlsplit(base_url).path.rstrip("/")
        self.host = urlsplit(base_url).netloc
        # Templates with more literal segments win (`/segments/{id}` before `/{any}`).
        self.templates = sorted(
            ((template, _pattern(template)) for template in document["paths"]),
            key=lambda item: -sum(1 for part in item[0].split("/") if part and "{" not in part),
        )

    def template(self, url: str) -> str | None:
        """The documented path template a URL falls under."""
        path = urlsplit(url).path.removeprefix(self.base)
        return next((t for t, p in self.templates if p.fullmatch(path)), None)

    def problems(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> list[str]:
        """What in this request the document does not allow (empty: it conforms)."""
        parts = urlsplit(url)
        if parts.netloc != self.host or not parts.path.startswith(self.base):
            return [f"{url}: not under the document's server"]
        path = parts.path[len(self.base) :]
        found = next(((t, m) for t, p in self.templates if (m := p.fullmatch(path))), None)
        if found is None:
            return [f"{method} {path}: no documented path"]
        template, match = found
        item = self.document["paths"][template]
        operation = item.get(method.lower())
        if operation is None:
            return [f"{method} {template}: method not documented"]
        where = f"{method} {template}"
        problems: list[str] = []
        params = [self._resolve(p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]]
        lower = {k.lower(): v for k, v in headers.items()}
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(key, []).append(value)
        documented_query = {p["name"] for p in params if p["in"] == "query"}
        problems += [
            f"{where}: query parameter {k!r} not documented" for k in query if k not in documented_query
        ]
        for param in params:
            name, place, schema = param["name"], param["in"], param.get("schema", {})
            values: list[str] | None
            if place == "path":
                values = [match.group(_group(name))]
            elif place == "query":
                values = query.get(name)
            elif place == "header":
                values = [lower[name.lower()]] if name.lower() in lower else None
            else:
                continue
            if values is None:
                if param.get("required"):
                    problems.append(f"{where}: required {place} parameter {name!r} missing")
                continue
            problems += [
                f"{where}: {place} {name!r}: {e}" for e in self._errors(schema, _typed(values, schema, param))
            ]
        problems += self._security(operation, lower, where)
        problems += self._body(operation, lower, body, where)
        return problems

    def _security(self, operation: dict[str, Any], headers: dict[str, str], where: str) -> list[str]:
        requirements = operation.get("security", self.document.get("security")) or []
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        for requirement in requirements:
            if all(_satisfied(schemes[name], headers) for name in requirement):
                return []
        return [f"{where}: none of the documented authentications present"] if requirements else []

    def _body(
        self, operation: dict[str, Any], headers: dict[str, str], body: bytes | None, where: str
    ) -> list[str]:
        documented = operation.get("requestBody")
        if documented is None:
            return [f"{where}: a body where none is documented"] if body else []
        documented = self._resolve(documented)
        if not body:
            return [f"{where}: required body missing"] if documented.get("required") else []
        media = headers.get("content-type", "").split(";")[0].strip()
        content = documented.get("content", {})
        if media not in content:
            return [f"{where}: Content-Type {media!r} not one of {sorted(content)}"]
        try:
            instance = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return [f"{where}: body is not UTF-8 JSON: {exc}"]
        schema = content[media].get("schema", {})
        problems = [f"{where}: body: {e}" for e in self._errors(schema, instance)]
        problems += [f"{where}: body: {e}" for e in self._undocumented(schema, instance, "")]
        return problems

    def _errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        # The document's components beside the schema: its `#/components/...` references resolve.
        validator = OAS30Validator({**schema, "components": self.document.get("components", {})})
        return [
            f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
            for error in validator.iter_errors(instance)
        ]

    def _undocumented(self, schema: dict[str, Any], instance: Any, at: str) -> list[str]:
        """Keys the document does not name where it lists an object's properties (typos, wrong places)."""
        schema = self._resolve(schema)
        if isinstance(instance, list) and "items" in schema:
            return [
                p for i, v in enumerate(instance) for p in self._undocumented(schema["items"], v, f"{at}/{i}")
            ]
        if not isinstance(instance, dict) or "properties" not in schema:
            return []
        if any(k in schema for k in ("additionalProperties", "oneOf", "anyOf", "allOf")):
            return []
        properties = schema["properties"]
        problems = [f"{at}/{k}: not a documented property" for k in instance if k not in properties]
        for key, value in instance.items():
            if key in properties:
                problems += self._undocumented(properties[key], value, f"{at}/{key}")
        return problems

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            pointer = node["$ref"].removeprefix("#/").split("/")
            found: Any = self.document
            for part in pointer:
                found = found[part.replace("~1", "/").replace("~0", "~")]
            node = found
        return node


def _pattern(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name in re.findall(r"\{([^}]+)\}", template):
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{_group(name)}>[^/]+)")
    return re.compile(pattern)


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _typed(values: list[str], schema: dict[str, Any], param: dict[str, Any]) -> Any:
    """A parameter's text as its schema's type (form style: repeated, comma-separated if not exploded)."""
    kind = schema.get("type")
    if kind == "array":
        items = [v for value in values for v in value.split(",")] if param.get("explode") is False else values
        return [_scalar(v, schema.get("items", {}).get("type")) for v in items]
    return _scalar(values[-1], kind)


def _scalar(value: str, kind: str | None) -> Any:
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _satisfied(scheme: dict[str, Any], headers: dict[str, str]) -> bool:
    if scheme.get("type") == "http":
        return headers.get("authorization", "").lower().startswith(str(scheme.get("scheme")).lower() + " ")
    if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
        return bool(headers.get(str(scheme["name"]).lower()))
    return False
