"""Rich inputs (README "Tools, documents and images"): images, documents, citations, tools
and the tool loop."""
from __future__ import annotations

import base64
import stat
import sys
from pathlib import Path
from typing import Any

import official
import orjson
import pytest
from conftest import TEST_KEY, chat_bodies, invoke, running, wait_for

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
IMAGES = {"a.png": (PNG, "image/png"), "b.jpg": (b"\xff\xd8\xff\xe0" + b"\x00" * 8, "image/jpeg"),
          "c.gif": (b"GIF89a" + b"\x00" * 8, "image/gif"),
          "d.webp": (b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 8, "image/webp")}


def test_image_files_become_data_uris_by_their_own_bytes(stub: Any, tmp_path: Path) -> None:
    args = []
    for name, (data, _) in IMAGES.items():
        (tmp_path / name).write_bytes(data)
        args += ["--image", str(tmp_path / name)]
    args += ["--image", "https://example.com/x.png", "--image-detail", "low"]
    result = invoke([*args, "--no-stream", "what is this?"], stdin=b"some context\n")
    assert result.exit_code == 0, result.stderr
    content = chat_bodies(stub)[0]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "some context\n\nwhat is this?"}
    urls = [block["image_url"]["url"] for block in content[1:]]
    for url, (data, mime) in zip(urls, IMAGES.values(), strict=False):
        assert url == f"data:{mime};base64,{base64.b64encode(data).decode()}"
    assert urls[-1] == "https://example.com/x.png"
    assert {block["image_url"]["detail"] for block in content[1:]} == {"low"}


@pytest.mark.parametrize(("setup", "code", "message"), [
    ("text", 3, "not a PNG, JPEG, WEBP or GIF image"),
    ("missing", 3, "cannot read: No such file"),
    ("too-many", 2, "at most 20 images in a request (got 21)"),
    ("too-big", 3, "the images come to more than 20 MB"),
])
def test_bad_images_are_refused_before_sending(stub: Any, tmp_path: Path, setup: str,
                                               code: int, message: str) -> None:
    image = tmp_path / "image"
    if setup == "text":
        image.write_text("not an image")
    elif setup == "too-big":
        image.write_bytes(PNG + b"\x00" * (21 << 20))
    elif setup == "too-many":
        image.write_bytes(PNG)
    refs = [str(image)] * (21 if setup == "too-many" else 1)
    result = invoke([arg for ref in refs for arg in ("--image", ref)] + ["hi"])
    assert result.exit_code == code and message in result.stderr
    assert stub.requests == []


def test_the_official_image_example_from_flags(make_stub: Any) -> None:
    example = official.example("image")
    server = make_stub(replies=(example["response"]["body"],))
    result = invoke(["-m", "command-a-vision-07-2025", "--image",
                     "https://cohere.com/favicon-32x32.png", "--image-detail", "auto",
                     "--no-stream", "Describe this image"])
    assert chat_bodies(server)[0] == example["request"]
    assert result.stdout == example["response"]["body"]["message"]["content"][0]["text"] + "\n"


def test_documents_from_files_and_jsonl(stub: Any, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("The build broke at 3am.\n")
    more = tmp_path / "more.jsonl"
    more.write_text('"a plain string"\n{"data": {"title": "t"}, "id": "x"}\n'
                    '{"id": "y", "title": "wrapped", "snippet": "s"}\n')
    invoke(["--document", str(notes), "--documents", str(more), "--no-stream", "why?"])
    assert chat_bodies(stub)[0]["documents"] == [
        {"id": str(notes), "data": {"title": "notes.txt", "snippet": "The build broke at 3am.\n"}},
        "a plain string", {"data": {"title": "t"}, "id": "x"},
        {"data": {"title": "wrapped", "snippet": "s"}, "id": "y"},
    ]
    more.write_text('"ok"\n[1]\n')
    bad = invoke(["--documents", str(more), "why?"])
    assert bad.exit_code == 3 and "more.jsonl:2: a document must be a string or an object" \
        in bad.stderr


def test_the_official_documents_example_from_flags(make_stub: Any, tmp_path: Path) -> None:
    example = official.example("documents")
    request = example["request"]
    server = make_stub(replies=(example["response"]["body"],))
    documents = tmp_path / "docs.jsonl"
    documents.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in request["documents"]))
    question = request["messages"][-1]["content"]
    result = invoke(["--documents", str(documents), "--no-stream", "--show-citations",
                     "-m", request["model"], question])
    assert chat_bodies(server)[0] == {**request, "stream": False}
    cited = example["response"]["body"]["message"]["citations"]
    assert result.stderr.count("\n[") + result.stderr.startswith("[") == len(cited)
    assert "sources:\n  doc:1  " in result.stderr
    message = orjson.loads(invoke(["--documents", str(documents), "-F", "message", "q"]).stdout)
    assert message["citations"] == cited


def test_the_official_tools_example_from_flags(make_stub: Any, tmp_path: Path) -> None:
    example = official.example("tools")
    request = example["request"]
    server = make_stub(replies=(example["response"]["body"],))
    tools = tmp_path / "tools.json"
    tools.write_bytes(orjson.dumps(request["tools"]))
    result = invoke(["--tools", str(tools), "--no-stream", "-m", request["model"],
                     request["messages"][-1]["content"]])
    assert chat_bodies(server)[0] == {**request, "stream": False}
    calls = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [c["name"] for c in calls] == [
        c["function"]["name"] for c in example["response"]["body"]["message"]["tool_calls"]]


def test_json_schema_is_refused_with_tools_or_documents(stub: Any, tmp_path: Path) -> None:
    schema, tools, doc = tmp_path / "s.json", tmp_path / "t.json", tmp_path / "d.txt"
    schema.write_text('{"type": "object"}')
    tools.write_text('[{"type": "function", "function": {"name": "f", "parameters": {}}}]')
    doc.write_text("text")
    for extra in (["--tools", str(tools)], ["--document", str(doc)]):
        result = invoke(["--json-schema", str(schema), *extra, "hi"])
        assert result.exit_code == 2 and "cannot go with tools or documents" in result.stderr
    assert stub.requests == []


TOOL_SCRIPT = """#!{python}
import json, os, sys
args = json.load(sys.stdin)
if args.get("fail"):
    sys.exit("boom")
print(json.dumps({{"weather": "sunny in " + args["city"],
                  "key_seen": any(k in os.environ for k in ("CO_API_KEY", "COHERE_API_KEY"))}}))
"""


def tool_reply(name: str, arguments: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    function = {"name": name, "arguments": orjson.dumps(arguments).decode()}
    return {"finish_reason": "TOOL_CALL", "message": {
        "role": "assistant", "tool_plan": f"I will use {name}",
        "tool_calls": [{"id": call_id, "type": "function", "function": function}]}}


@pytest.fixture
def weather_tool(tmp_path: Path) -> Path:
    script = tmp_path / "weather"
    script.write_text(TOOL_SCRIPT.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_a_two_round_tool_loop_sends_the_tool_output_back(
    make_stub: Any, weather_tool: Path, tmp_path: Path, stream: str
) -> None:
    server = make_stub(replies=(tool_reply("weather", {"city": "Oslo"}), "It is sunny."))
    conversation = tmp_path / "chat.jsonl"
    result = invoke([stream, "--tool-exec", f"weather={weather_tool}", "-c", str(conversation),
                     "Weather in Oslo?"])
    assert (result.exit_code, result.stdout) == (0, "It is sunny.\n"), result.stderr
    second = chat_bodies(server)[1]["messages"]
    assert second[1]["tool_calls"][0]["id"] == "call_1"
    tool_message = second[2]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_1"
    assert orjson.loads(tool_message["content"]) == {"weather": "sunny in Oslo", "key_seen": False}
    stored = [orjson.loads(line) for line in conversation.read_bytes().splitlines()]
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]


def test_a_failing_tool_gives_the_model_an_error(make_stub: Any, weather_tool: Path) -> None:
    server = make_stub(replies=(tool_reply("weather", {"fail": True}), "Sorry."))
    result = invoke(["--tool-exec", f"weather={weather_tool}", "weather?"])
    assert result.stdout == "Sorry.\n"
    content = orjson.loads(chat_bodies(server)[1]["messages"][2]["content"])
    assert content == {"error": "the tool exited with status 1: boom"}


def test_a_slow_tool_times_out_into_an_error_result(make_stub: Any) -> None:
    server = make_stub(replies=(tool_reply("nap", {}), "ok"))
    result = invoke(["--tool-exec", "nap=sleep 5", "--tool-timeout", "0.2", "rest?"])
    assert result.exit_code == 0
    content = orjson.loads(chat_bodies(server)[1]["messages"][2]["content"])
    assert content == {"error": "the tool timed out after 0.2s"}


def test_arguments_are_never_put_in_a_shell_line(make_stub: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    server = make_stub(replies=(tool_reply("echo", {"x": f"; touch {marker}"}), "done"))
    invoke(["--tool-exec", "echo=cat", "go"])
    assert not marker.exists()
    assert orjson.loads(chat_bodies(server)[1]["messages"][2]["content"]) == {
        "x": f"; touch {marker}"}


def test_an_unmapped_tool_ends_with_a_clear_message(make_stub: Any, tmp_path: Path) -> None:
    conversation = tmp_path / "chat.jsonl"
    make_stub(replies=(tool_reply("search", {"q": "x"}),))
    result = invoke(["--tool-exec", "weather=true", "-c", str(conversation), "find x"])
    assert result.exit_code == 2
    assert 'the model asked for the tool "search", which no --tool-exec maps' in result.stderr
    assert not conversation.exists()


def test_max_tool_rounds_stops_a_loop_that_never_ends(make_stub: Any) -> None:
    server = make_stub(replies=(tool_reply("again", {}),))
    result = invoke(["--tool-exec", "again=true", "--max-tool-rounds", "2", "loop"])
    assert result.exit_code == 8
    assert "still asks for tools after 2 rounds" in result.stderr
    assert len(server.requests) == 3


def test_bad_tool_exec_specs(stub: Any) -> None:
    for spec in ("noequals", "=cmd", "name=", "name='unclosed"):
        result = invoke(["--tool-exec", spec, "hi"])
        assert result.exit_code == 2 and "--tool-exec" in result.stderr
    assert stub.requests == []


def test_batch_takes_images_and_documents_as_defaults(stub: Any, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(PNG)
    (tmp_path / "d.txt").write_text("doc")
    result = invoke(["batch", "--image", str(tmp_path / "a.png"), "--document",
                     str(tmp_path / "d.txt")], stdin=b'"one"\n"two"\n')
    assert result.exit_code == 0
    for body in chat_bodies(stub):
        assert body["messages"][-1]["content"][1]["type"] == "image_url"
        assert body["documents"][0]["data"]["snippet"] == "doc"
    assert TEST_KEY not in result.stdout


def test_message_format_in_a_tool_loop_gives_a_whole_history(make_stub: Any,
                                                              weather_tool: Path) -> None:
    make_stub(replies=(tool_reply("weather", {"city": "Oslo"}), "It is sunny."))
    result = invoke(["-F", "message", "--tool-exec", f"weather={weather_tool}", "Oslo?"])
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [m["role"] for m in lines] == ["assistant", "tool", "assistant"]
    official.validate_request({"model": "m", "messages": [
        {"role": "user", "content": "Oslo?"}, *lines]})


def test_tool_choice_required_only_forces_the_first_round(make_stub: Any, tmp_path: Path,
                                                          weather_tool: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text('[{"type": "function", "function": {"name": "weather", '
                     '"parameters": {"type": "object"}}}]')
    server = make_stub(replies=(tool_reply("weather", {"city": "Oslo"}), "sunny"))
    result = invoke(["--tools", str(tools), "--tool-choice", "required",
                     "--tool-exec", f"weather={weather_tool}", "Oslo?"])
    assert result.exit_code == 0
    bodies = chat_bodies(server)
    assert bodies[0]["tool_choice"] == "REQUIRED" and "tool_choice" not in bodies[1]


@pytest.mark.slow
def test_a_timed_out_tool_takes_its_children_with_it(make_stub: Any, tmp_path: Path) -> None:
    marker, child = tmp_path / "late", tmp_path / "child.pid"
    script = tmp_path / "slow.sh"
    script.write_text(f"#!/bin/sh\n(sleep 1; touch {marker}) &\necho $! > {child}\nsleep 5\n")
    script.chmod(0o755)
    make_stub(replies=(tool_reply("slow", {}), "ok"))
    assert invoke(["--tool-exec", f"slow={script}", "--tool-timeout", "0.3", "go"]).exit_code == 0
    pid = int(child.read_text())
    wait_for(lambda: not running(pid), "the tool's child to end (killed, or done at 1 s)", 10)
    assert not marker.exists()


def test_each_round_starts_with_nothing_shown() -> None:
    """A stream that breaks before a later round shows anything may still be retried."""
    import io

    from cohere_cli.cli.render import Console, OutputOptions, Renderer
    from cohere_cli.wire.chat_events import Delta

    renderer = Renderer(Console(io.BytesIO(), io.BytesIO()), OutputOptions())
    renderer.delta(Delta("text", "round one"))
    assert renderer.started
    renderer.begin()
    assert not renderer.started


# --- issue 17 item 6: the tool plan on stderr ----------------------------------------------

@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_show_plan_prints_the_tool_plan_on_stderr(make_stub: Any, tmp_path: Path,
                                                  stream: str) -> None:
    reply = tool_reply("get_weather", {"city": "Paris"})
    reply["message"]["content"] = [{"type": "thinking", "thinking": "The user wants weather."}]
    make_stub(replies=(reply,))
    tools = tmp_path / "tools.json"
    tools.write_text('[{"type":"function","function":{"name":"get_weather","parameters":{}}}]')
    plain = invoke(["--tools", str(tools), stream, "q"])
    assert plain.stderr == "" and orjson.loads(plain.stdout)["name"] == "get_weather"
    shown = invoke(["--tools", str(tools), stream, "--show-plan", "q"])
    assert (shown.stdout, shown.stderr) == (plain.stdout, "I will use get_weather\n")
    both = invoke(["--tools", str(tools), stream, "--show-plan", "--show-thinking", "q"])
    assert sorted(both.stderr.splitlines(keepends=True)) == [
        "I will use get_weather\n", "The user wants weather.\n"]  # each on a line of its own
