"""Derive the committed test fixtures from Cohere's official OpenAPI document.

Writes, next to this file:

- ``chat_v2.schema.json``: a self-contained JSON Schema (draft 2020-12) whose ``$defs``
  hold ``ChatRequest`` (the ``POST /v2/chat`` body), ``ChatResponseV2``,
  ``StreamedChatResponseV2`` (the union of stream events), ``ListModelsResponse`` and
  every component schema they reach. The root schema validates a request body.
- ``examples.json``: the eight official ``/v2/chat`` examples (``x-fern-examples``),
  named, without their code samples.

- ``cohere-openapi.excerpt.yaml``: the part of the OpenAPI document the two files above
  are made from (the ``/v2/chat`` and ``/v1/models`` operations and every component
  schema they reach), with its provenance: so they can be checked in any clone
  (tests/test_official_schema.py), without the whole document beside the repository.

Regenerate (from the repository root) with::

    python tests/schema/derive.py ../shared/cohere/cohere-openapi.yaml

which writes the excerpt from that document, then the two files from the excerpt; with no
argument, the two files are made again from the committed excerpt. The output is
deterministic: running it again gives byte-identical files.

Two translations matter:

- The document is YAML 1.1: a plain ``yaml.safe_load`` reads the enum value ``OFF`` (and
  ``ON``, ``yes``, ``no``) as a boolean. The loader here only knows ``true``/``false``.
- An OpenAPI ``oneOf`` with a ``discriminator`` picks its branch by the discriminator's
  mapping; several branches overlap (the two ``ResponseFormatV2`` shapes, the tool and
  document citation sources), so a plain JSON Schema ``oneOf`` would reject valid bodies.
  It becomes an ``allOf`` of ``if {prop: const V} then {$ref: branch}``, plus a check that
  the discriminator is present and is one of the mapping's keys.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
SHARED_SOURCE = REPO_ROOT.parent / "shared" / "cohere" / "cohere-openapi.yaml"
EXCERPT_FILE = "cohere-openapi.excerpt.yaml"
SCHEMA_FILE = "chat_v2.schema.json"
EXAMPLES_FILE = "examples.json"
KEPT_PATHS = {"/v2/chat": "post", "/v1/models": "get"}

COMPONENT_REF = "#/components/schemas/"
DEFS_REF = "#/$defs/"
SCHEMA_ID = "urn:cohere-chat:chat-v2"
# Keywords OpenAPI adds that JSON Schema does not need (``x-*`` keys are dropped too).
DROPPED = frozenset({"discriminator", "example", "examples", "nullable", "xml", "externalDocs"})
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_MAPS = ("properties", "patternProperties", "$defs")
SCHEMA_VALUES = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


class Yaml11SafeLoader(yaml.SafeLoader):
    """A SafeLoader whose booleans are only true/false (any case): OFF stays "OFF"."""


Yaml11SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml11SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"),
    list("tTfF"),
)


def load_openapi(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=Yaml11SafeLoader)  # a SafeLoader subclass


def def_ref(ref: str) -> str:
    """``#/components/schemas/X`` (or a bare mapping name ``X``) -> ``#/$defs/X``."""
    return DEFS_REF + ref.removeprefix(COMPONENT_REF)


def discriminated(prop: str, mapping: dict[str, str]) -> list[dict[str, Any]]:
    """The ``allOf`` items that stand for a discriminated ``oneOf``."""
    keys = sorted(mapping)
    checks: list[dict[str, Any]] = [
        {"type": "object", "required": [prop], "properties": {prop: {"enum": keys}}}
    ]
    for key in keys:
        checks.append({
            "if": {"properties": {prop: {"const": key}}, "required": [prop]},
            "then": {"$ref": def_ref(mapping[key])},
        })
    return checks


def implicit_mapping(branches: list[dict[str, Any]]) -> dict[str, str]:
    """OpenAPI's default mapping: each ``$ref`` branch by its schema name."""
    return {b["$ref"].removeprefix(COMPONENT_REF): b["$ref"] for b in branches if "$ref" in b}


def convert(node: Any) -> Any:
    """Translate one OpenAPI 3.0 schema object into JSON Schema 2020-12."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in DROPPED:
            continue
        if key == "$ref":
            out[key] = def_ref(value)
        elif key in SCHEMA_LISTS:
            out[key] = [convert(item) for item in value]
        elif key in SCHEMA_MAPS:
            out[key] = {name: convert(item) for name, item in value.items()}
        elif key in SCHEMA_VALUES and isinstance(value, dict):
            out[key] = convert(value)
        else:
            out[key] = value
    discriminator = node.get("discriminator")
    if discriminator and "oneOf" in node:
        mapping = discriminator.get("mapping") or implicit_mapping(node["oneOf"])
        del out["oneOf"]
        out["allOf"] = out.get("allOf", []) + discriminated(discriminator["propertyName"], mapping)
    for bound in ("minimum", "maximum"):
        exclusive = "exclusive" + bound.capitalize()
        if out.get(exclusive) is True:
            out[exclusive] = out.pop(bound)
        elif out.get(exclusive) is False:
            del out[exclusive]
    if node.get("nullable") is True:
        return {"anyOf": [{"type": "null"}, out]}
    return out


def refs_in(node: Any) -> set[str]:
    """Names of the ``$defs`` a converted schema refers to."""
    if isinstance(node, list):
        return set().union(*map(refs_in, node))
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"].removeprefix(DEFS_REF)} if isinstance(node.get("$ref"), str) else set()
    return found.union(*map(refs_in, node.values()))


def fix_logprob_item(defs: dict[str, Any]) -> None:
    """``LogprobItem`` requires ``token`` and ``logprob``, which it never defines.

    Its properties are ``text``, ``token_ids`` and ``logprobs``; the generated SDKs ignore
    undefined required names, so drop them instead of rejecting every real logprob.
    """
    item = defs.get("LogprobItem")
    if item and "properties" in item:
        item["required"] = [name for name in item["required"] if name in item["properties"]]


def request_schema(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /v2/chat`` body (inline in the document), converted."""
    chat = doc["paths"]["/v2/chat"]["post"]
    request = convert(chat["requestBody"]["content"]["application/json"]["schema"])
    request["required"] = sorted(set(request.get("required", [])) | {"model", "messages"})
    return request


def models_page_name(doc: dict[str, Any]) -> str | None:
    """The component that ``GET /v1/models`` answers with, if the document has it."""
    models = doc["paths"].get("/v1/models", {}).get("get")
    if not models:
        return None
    listed = models["responses"]["200"]["content"]["application/json"]["schema"]
    return listed["$ref"].removeprefix(COMPONENT_REF)


def build_schema(doc: dict[str, Any]) -> dict[str, Any]:
    components = doc["components"]["schemas"]
    defs = {"ChatRequest": request_schema(doc)}
    pending = {"ChatResponseV2", "StreamedChatResponseV2"} | refs_in(defs["ChatRequest"])
    if models_page := models_page_name(doc):
        pending.add(models_page)
    while pending:
        name = pending.pop()
        if name not in defs:
            defs[name] = convert(components[name])
            pending |= refs_in(defs[name]) - defs.keys()
    fix_logprob_item(defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Cohere Chat API v2 (derived from the official OpenAPI document)",
        "description": "The root validates a POST /v2/chat request body; other shapes are in "
        "$defs. Generated by tests/schema/derive.py: do not edit by hand.",
        "$ref": DEFS_REF + "ChatRequest",
        "$defs": defs,
    }


def strip_extensions(node: Any) -> Any:
    """Drop ``x-fern-*`` keys (code-generator annotations, not wire data) from an example."""
    if isinstance(node, list):
        return [strip_extensions(item) for item in node]
    if isinstance(node, dict):
        return {k: strip_extensions(v) for k, v in node.items() if not k.startswith("x-fern-")}
    return node


def example_name(request: dict[str, Any]) -> str:
    """A short stable name from what a request uses: tools, documents, images, stream."""
    contents = [m.get("content") for m in request.get("messages", [])]
    blocks = [b for c in contents if isinstance(c, list) for b in c if isinstance(b, dict)]
    if request.get("tools"):
        kind = "tools"
    elif request.get("documents"):
        kind = "documents"
    elif any(block.get("type") == "image_url" for block in blocks):
        kind = "image"
    else:
        kind = "default"
    if not request.get("stream"):
        return kind
    return "stream" if kind == "default" else f"{kind}-stream"


def build_examples(doc: dict[str, Any]) -> list[dict[str, Any]]:
    examples = []
    for raw in doc["paths"]["/v2/chat"]["post"]["x-fern-examples"]:
        request = strip_extensions(raw["request"])
        response = strip_extensions(raw["response"])
        examples.append({"name": example_name(request), "request": request, "response": response})
    names = [e["name"] for e in examples]
    if len(set(names)) != len(names):
        raise SystemExit(f"derive.py: example names are not unique: {names}")
    return examples


def check(schema: dict[str, Any]) -> None:
    """Guard against the YAML 1.1 booleans coming back."""
    defs = schema["$defs"]
    safety = defs["ChatRequest"]["properties"]["safety_mode"]["enum"]
    modes = defs["CitationOptions"]["properties"]["mode"]["enum"]
    if safety != ["CONTEXTUAL", "STRICT", "OFF"] or "OFF" not in modes:
        raise SystemExit(f"derive.py: YAML 1.1 booleans leaked: {safety} {modes}")


def dump(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def openapi_refs(node: Any) -> set[tuple[str, str]]:
    """The components (kind, name) an OpenAPI node refers to: `#/components/KIND/NAME`."""
    if isinstance(node, list):
        return set().union(*map(openapi_refs, node))
    if not isinstance(node, dict):
        return set()
    mapping = node.get("discriminator", {}).get("mapping", {})
    found = set()
    for ref in [node.get("$ref"), *mapping.values()]:
        if isinstance(ref, str) and ref.startswith("#/components/"):
            kind, name = ref.removeprefix("#/components/").split("/", 1)
            found.add((kind, name))
    return found.union(*map(openapi_refs, node.values()))


def excerpt(doc: dict[str, Any]) -> dict[str, Any]:
    """The operations of KEPT_PATHS and every component they reach, as in `doc`."""
    paths = {path: {method: doc["paths"][path][method]} for path, method in KEPT_PATHS.items()
             if method in doc["paths"].get(path, {})}
    kept: dict[tuple[str, str], Any] = {}
    pending = openapi_refs(paths)
    while pending:
        kind, name = pending.pop()
        if (kind, name) not in kept:
            kept[kind, name] = doc["components"][kind][name]
            pending |= openapi_refs(kept[kind, name]) - kept.keys()
    components: dict[str, dict[str, Any]] = {}
    for kind, name in sorted(kept):
        components.setdefault(kind, {})[name] = kept[kind, name]
    return {"openapi": doc.get("openapi"), "info": doc.get("info"), "paths": paths,
            "components": components}


def render_excerpt(source: Path) -> str:
    """The excerpt of the OpenAPI document at `source`, as YAML, with its provenance."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    head = ("# An excerpt of Cohere's official OpenAPI document, ../shared/cohere/"
            f"{source.name}\n# beside the repository (sha256 {digest}):\n"
            "# the /v2/chat and /v1/models operations and every component they reach, as\n"
            "# written there. Made by tests/schema/derive.py; do not edit by hand.\n")
    body = yaml.safe_dump(excerpt(load_openapi(source)), sort_keys=False, allow_unicode=True,
                          width=100)
    return head + body


def render(source: Path) -> dict[str, str]:
    """File name -> exact text of every file made from the document (or excerpt)."""
    doc = load_openapi(source)
    schema = build_schema(doc)
    check(schema)
    return {SCHEMA_FILE: dump(schema), EXAMPLES_FILE: dump(build_examples(doc))}


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        (HERE / EXCERPT_FILE).write_text(render_excerpt(Path(argv[1])), encoding="utf-8")
        print(f"wrote {(HERE / EXCERPT_FILE).relative_to(REPO_ROOT)}")
    for name, text in render(HERE / EXCERPT_FILE).items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {(HERE / name).relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
