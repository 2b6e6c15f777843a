"""A request flag is known everywhere a request field must be (CONTRIBUTING "Where a new
flag goes"; issue 24 item 6).

The flags are `send`'s options whose destination is a `RequestOptions` field, and the body
fields each makes are found by the code itself: each flag is given alone, with a value of
its click type, to `preset_document` (the body builder's `_flag_fields` and the model),
so nothing here lists the fields by hand. For every field a flag makes: it is a request
field the rules know (`REQUEST_FIELDS`, a numeric one in `RANGES` with the official
schema's bounds); `--param` takes it without a warning; a preset and a batch line take it;
`batch --remote` carries it (the record fits the Avro input schema and the stub's check of
an upload) or refuses it by name (`records.REFUSED`); `docs/request-rules.md` names it when
a rule refuses a bad value of it. For every flag: its entry in the man page's `send`
section, the guide presents it, and the property test draws it. All in-process.
"""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
import fastavro
import jsonschema
import official
import orjson
import pytest
from test_docs import MAN_PAGE, ROOT, code_span_options, has_entry, roff_text
from test_property import FILE_FLAGS, SWITCHES, VALUE_FLAGS

from cohere_cli.base.errors import InputError
from cohere_cli.batch.jobs import JobMaker
from cohere_cli.batch.remote import records
from cohere_cli.batch.remote.records import REFUSED, Uncarried, input_record
from cohere_cli.batch.remote.schema import INPUT_SCHEMA
from cohere_cli.chat.request import NOT_FLAGS, RequestOptions, param_warnings, preset_document
from cohere_cli.chat.rules import RANGES, REQUEST_FIELDS, body_problem
from cohere_cli.cli.commands.batch import batch
from cohere_cli.cli.commands.send import send
from cohere_cli.cli.options import request_options
from cohere_cli.settings.presets import load_preset, save_preset
from cohere_cli.stub.batch_input import RecordProblem, check_body

USER = {"role": "user", "content": "q"}
GUIDE = ROOT / "docs" / "guide.md"
RULES_DOC = ROOT / "docs" / "request-rules.md"

# Flags that set no field of their own: the checks below hold for the field each names.
FIELDLESS = {"params": "--param KEY=VALUE sets any field, named by KEY"}
# The contents of the files that the flags taking a path read (a new one needs its own).
SAMPLE_FILES = {
    "tools": b'[{"type": "function", "function": {"name": "t", "parameters": {}}}]',
    "json_schema": b'{"type": "object"}',
    "documents": b"a document\n",
    "documents_file": b'"a doc"\n{"id": "d", "data": {"snippet": "s"}}\n',
}
# Body fields a field needs beside it to make a valid request (rules.combination_problem).
NEEDS = {"tool_choice": ("tools",)}
# Flags the property test (tests/test_property.py) need not draw, each with its reason.
NOT_DRAWN: dict[str, str] = {}


def request_flags(command: click.Command) -> dict[str, click.Option]:
    """The command's options that go into `RequestOptions`, by destination."""
    names = {f.name for f in fields(RequestOptions)} - set(NOT_FLAGS)
    return {p.name: p for p in command.params
            if isinstance(p, click.Option) and p.name is not None and p.name in names}


FLAGS = request_flags(send)
FIELD_FLAGS = sorted(name for name in FLAGS if name not in FIELDLESS)


def spelled(name: str) -> str:
    """The flag as a user types it (its long name)."""
    option = FLAGS[name]
    return max(option.opts, key=len)


def sample(option: click.Option, folder: Path) -> Any:
    """A value of the option's own type that the API accepts, as click would pass it."""
    if option.is_flag:
        one: Any = True
    elif isinstance(option.type, click.Choice):
        one = option.type.choices[0]
    elif isinstance(option.type, click.Path):
        assert option.name in SAMPLE_FILES, f"SAMPLE_FILES needs a file for {option.opts}"
        one = folder / option.name
        one.write_bytes(SAMPLE_FILES[option.name])
        one = str(one)
    else:
        one = {click.INT: 1, click.FLOAT: 0.5, click.STRING: "x"}.get(option.type)
        assert one is not None, f"no sample value for {option.opts} ({option.type})"
    return (one,) if option.multiple else one


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each flag's body fields, as the body builder makes them from the flag alone."""
    folder = tmp_path_factory.mktemp("samples")
    return {name: preset_document(RequestOptions(**{name: sample(FLAGS[name], folder)}),
                                  None, {}) for name in FIELD_FLAGS}


def test_each_request_options_field_has_its_flag_on_send_and_batch() -> None:
    expected = {f.name for f in fields(RequestOptions)} - set(NOT_FLAGS)
    shared = click.command()(request_options(lambda: None)).params
    assert {p.name for p in shared} - expected == set(), (
        "an option of options.REQUEST_OPTIONS without its RequestOptions field")
    assert set(FLAGS) == expected, "a RequestOptions field without its flag on send"
    assert set(request_flags(batch)) == expected, "... on batch"
    assert set(FIELDLESS) <= expected


def test_each_flag_makes_a_body_field(made: dict[str, dict[str, Any]]) -> None:
    """A flag given alone shows in the body (a flag the body builder forgets fails here)."""
    lost = [spelled(name) for name, document in made.items() if not document]
    assert not lost, f"{lost} make no body field: their line in request._flag_fields?"


def remote_problems(field: str, value: Any) -> list[str]:
    """Whether `batch --remote` carries the field (into the input schema, as the stub
    checks an upload) or refuses it by name; never drops it."""
    try:
        record = input_record(1, {"model": "m", "messages": [USER], field: value})
    except Uncarried as refused:
        if refused.field == field and field in REFUSED:
            return []
        return [f"batch --remote refuses it ({refused}) but records.REFUSED does not list "
                "it: carry it (records.PASSED, schema.INPUT_SCHEMA, stub/batch_input.py) or "
                "add it to records.REFUSED and the man page's \"What cannot be carried\""]
    if field in REFUSED:
        return [f"records.REFUSED lists it, but input_record carried it: {record}"]
    problems = []
    bare = input_record(1, {"model": "m", "messages": [USER]})
    if record == bare and field not in records.DROPPED:
        problems.append("batch --remote drops it without a word")
    body_schema = next(f["type"] for f in INPUT_SCHEMA["fields"] if f["name"] == "body")
    unknown = set(record["body"]) - {f["name"] for f in body_schema["fields"]}
    if unknown:  # fastavro.validate lets a record have fields its schema does not
        problems.append(f"schema.INPUT_SCHEMA has no field {sorted(unknown)}")
    try:
        fastavro.validate(record, fastavro.parse_schema(INPUT_SCHEMA), raise_errors=True)
    except fastavro.validation.ValidationError as exc:
        problems.append(f"its Batch API record does not fit schema.INPUT_SCHEMA: {exc}")
    try:
        check_body(record["body"])
    except RecordProblem as exc:
        problems.append(f"the stub refuses its Batch API record (stub/batch_input.py): {exc}")
    return problems


def has_rules(field: str) -> bool:
    """Whether a rule (rules.body_problem) refuses some wrong value of the field."""
    return any(body_problem({"model": "m", "messages": [USER], field: wrong})
               for wrong in ({"\0": None}, "\0"))


def rules_doc_fields() -> set[str]:
    """The fields docs/request-rules.md's table names in its first column."""
    cells = re.findall(r"^\|([^|]*)\|", RULES_DOC.read_text(encoding="utf-8"), re.M)
    return {word for cell in cells for word in re.findall(r"[a-z_]+", cell)}


def field_problems(field: str, value: Any, companions: dict[str, Any],
                   folder: Path) -> list[str]:
    """Where the body field `field` (with the value its flag gave) is not known."""
    problems = []
    if field not in REQUEST_FIELDS:
        problems.append("not in rules.REQUEST_FIELDS")
    if field not in official.schema()["$defs"]["ChatRequest"]["properties"]:
        problems.append("not a field of the official schema (tests/schema/)")
    if param_warnings((f"{field}={orjson.dumps(value).decode()}",)):
        problems.append("--param warns about it")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and field not in RANGES:
        problems.append("a number without its range in rules.RANGES")
    document = {**{need: companions[need] for need in NEEDS.get(field, ())}, field: value}
    trial = {"model": "m", "messages": [USER], **document}
    problem = body_problem(trial)
    if problem:
        return [*problems, f"its body is refused ({problem}): does it need a field beside "
                "it (NEEDS)?"]
    try:
        official.validate_request(trial)
    except jsonschema.ValidationError as exc:
        problems.append(f"its body does not fit the official schema: {exc.message}")
    path = folder / f"{field}.json"
    try:
        save_preset(str(path), document, {}, force=True)
        loaded = load_preset(str(path), {})
        if loaded.fields.get(field) != value:
            problems.append("a preset loses it")
    except InputError as exc:
        problems.append(f"a preset refuses it ({exc.message})")
    job = JobMaker({"model": "m"}, None).make(1, 1, orjson.dumps({"prompt": "q", **document}))
    if job.error or not job.body or job.body.get(field) != value:
        problems.append(f"a batch line refuses or loses it ({job.error})")
    problems += remote_problems(field, value)
    if has_rules(field) and field not in rules_doc_fields():
        problems.append(f"a rule refuses bad values, but {RULES_DOC.name} does not name it")
    return problems


def flag_problems(name: str) -> list[str]:
    """Where the flag itself is not documented or drawn."""
    option = FLAGS[name]
    spellings = [*option.opts, *option.secondary_opts]
    problems = []
    if not any(has_entry("send", opt) for opt in spellings):
        problems.append(f"no entry in {MAN_PAGE.name}'s send section")
    if not set(spellings) & set(code_span_options(GUIDE.read_text(encoding="utf-8"))):
        problems.append(f"{GUIDE.name} does not present it")
    drawn = {*VALUE_FLAGS, *SWITCHES, *FILE_FLAGS}
    if name not in NOT_DRAWN and not set(spellings) & drawn:
        problems.append("the property test does not draw it (tests/test_property.py "
                        "VALUE_FLAGS, SWITCHES or FILE_FLAGS; or NOT_DRAWN, with a reason)")
    return problems


@pytest.mark.parametrize("name", sorted(FLAGS), ids=spelled)
def test_a_request_flag_is_known_everywhere_a_request_field_must_be(
        name: str, made: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    companions = {field: value for document in made.values()
                  for field, value in document.items()}
    problems = [f"{spelled(name)}: {problem}" for problem in flag_problems(name)]
    for field, value in made.get(name, {}).items():
        problems += [f"{spelled(name)} -> {field}: {problem}"
                     for problem in field_problems(field, value, companions, tmp_path)]
    assert not problems, "\n".join(problems)


def test_what_batch_remote_refuses_is_named_so_in_the_man_page() -> None:
    """Each refused field is a request field, refused by name, and in the man page's
    "What cannot be carried" (its words: `stop_sequences` as "stop sequences")."""
    source = MAN_PAGE.read_text(encoding="utf-8")
    section = re.search(r'^\.SS "What cannot be carried"\n(.*?)^\.S[SH] ', source, re.M | re.S)
    assert section, f"no \"What cannot be carried\" in {MAN_PAGE.name}"
    words = roff_text(re.sub(r"^\.[A-Z]+ ?", "", section.group(1), flags=re.M))
    text = " ".join(words.replace('"', " ").split())
    for field in REFUSED:
        assert field in REQUEST_FIELDS
        with pytest.raises(Uncarried) as refused:
            input_record(1, {"messages": [USER], field: None})
        assert refused.value.field == field
        assert field.replace("_", " ") in text, (
            f'{field}: refused by batch --remote, not named in "What cannot be carried"')


def test_the_ranges_are_the_official_schemas() -> None:
    """A request field with a minimum or maximum in the official schema has the same
    bounds in rules.RANGES; every number field of the schema has a range."""
    properties = official.schema()["$defs"]["ChatRequest"]["properties"]
    for field, spec in properties.items():
        if spec.get("type") in ("integer", "number"):
            assert field in RANGES, field
            kind, low, high = RANGES[field]
            assert kind == spec["type"], field
            for bound, ours in (("minimum", low), ("maximum", high)):
                if bound in spec:
                    assert float(ours) == float(spec[bound]), (field, bound)
    assert set(RANGES) <= set(properties)
