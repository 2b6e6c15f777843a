"""`models`: every page of the chat models (README "Usage"), and its errors (README "Exit
codes")."""
from __future__ import annotations

from typing import Any

import official
import orjson
from conftest import invoke


def test_names_one_per_line_across_all_pages(stub: Any) -> None:
    result = invoke(["models"])
    assert (result.exit_code, result.stderr) == (0, "")
    names = result.stdout.splitlines()
    assert len(names) == 5 and "command-r" in names and "embed-v4.0" not in names
    pages = [r for r in stub.requests if r.path.startswith("/v1/models")]
    assert len(pages) == 3  # the stub serves two models a page
    assert all("endpoint=chat" in r.path for r in pages)
    assert "page_token=" in pages[1].path


def test_json_gives_each_model_object(stub: Any) -> None:
    models = [orjson.loads(line) for line in invoke(["models", "--json"]).stdout.splitlines()]
    assert [m["name"] for m in models] == invoke(["models"]).stdout.splitlines()
    official.validate_models_page({"models": models})


def test_errors_as_for_send(make_stub: Any) -> None:
    make_stub(fail=("401",))
    result = invoke(["models"])
    assert result.exit_code == 4 and result.stdout == ""
    assert result.stderr.startswith("cohere-chat: error: HTTP 401: stub: injected 401")
    make_stub(fail=("garbage",))
    assert invoke(["models"]).exit_code == 7


def test_models_is_a_command_and_send_models_is_a_prompt(stub: Any) -> None:
    assert invoke(["send", "models"]).stdout == "echo: models\n"
