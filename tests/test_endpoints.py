"""Any Cohere endpoint (issue 28 items 1-3): --no-auth, --header and plain http to another
host when nothing secret goes there; the header values kept secret everywhere (-v, the run
log, errors, --dry-run, `config`) and kept to the API's own host on a redirect."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import (
    TEST_HEADER_VALUE,
    TEST_KEY,
    invoke,
    serve_in_background,
    start_stub,
)

from cohere_cli.base.errors import UsageError
from cohere_cli.stub.batch_settings import BatchStubSettings
from cohere_cli.stub.server import StubServer
from cohere_cli.wire.connection import check_base_url

GATEWAY = f"X-Gateway-Key: {TEST_HEADER_VALUE}"


def write_config(home: Path, text: str) -> Path:
    path = home / ".config" / "cohere-chat" / "config.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.fixture
def private(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    """A stub playing a private deployment (`stub --no-auth`); no key anywhere."""
    server = start_stub(no_auth=True, batch=BatchStubSettings(time=0.05, validation_time=0.01))
    monkeypatch.setenv("CO_API_URL", server.url)
    yield server
    server.stop()


# --- 1. --no-auth -----------------------------------------------------------------------

def test_no_auth_needs_no_key_and_sends_no_authorization(private: StubServer,
                                                         tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'"a"\n"b"\n')
    for args in (["--no-stream", "hi"], ["--stream", "hi"], ["models"],
                 ["batch", "--remote", "-o", str(tmp_path / "out.jsonl"), str(source)],
                 ["batches", "list"], ["config", "--check"]):
        result = invoke([*args, "--no-auth"])
        assert result.exit_code == 0, (args, result.stderr)
        assert "warning" not in result.stderr
    assert {request.path.split("?")[0][:10] for request in private.requests} >= {
        "/v2/chat", "/v1/models", "/v1/datase", "/v2/batche", "/signed/co"}
    assert all("Authorization" not in request.headers for request in private.requests)


def test_without_no_auth_a_key_is_still_needed(private: StubServer) -> None:
    result = invoke(["hi"])
    assert result.exit_code == 2 and "no API key" in result.stderr
    assert private.requests == []


@pytest.mark.parametrize("where", ["flag", "environment", "config"])
def test_a_configured_key_is_not_sent_under_no_auth_and_one_warning_says_so(
        private: StubServer, clean_env: Path, where: str) -> None:
    args = ["--no-stream", "hi"]
    env: dict[str, str | None] = {"CO_API_KEY": TEST_KEY}
    if where == "flag":
        args.append("--no-auth")
    elif where == "environment":
        env["CO_NO_AUTH"] = "1"
    else:
        write_config(clean_env, "[default]\nauth = none\n")
    result = invoke(args, env=env)  # invoke checks the key is in no output
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("warning") == 1
    assert "an API key is set (environment CO_API_KEY) but not sent" in result.stderr
    assert "Authorization" not in private.requests[0].headers


def test_co_no_auth_0_and_auth_bearer_send_the_key(stub: StubServer, clean_env: Path) -> None:
    write_config(clean_env, "[default]\nauth = none\n")
    assert invoke(["hi"], env={"CO_NO_AUTH": "0"}).exit_code == 0  # the environment wins
    write_config(clean_env, "[default]\nauth = Bearer\n")
    assert invoke(["hi"]).exit_code == 0
    assert [r.headers["Authorization"] for r in stub.requests] == [f"Bearer {TEST_KEY}"] * 2


@pytest.mark.parametrize(("env", "config", "said"), [
    ({"CO_NO_AUTH": "maybe"}, "", "CO_NO_AUTH must be yes or no"),
    ({}, "[default]\nauth = basic\n", "auth must be none or bearer (got 'basic' from"),
    ({}, "[default]\ninsecure_http = sure\n", "insecure_http must be yes or no"),
])
def test_bad_access_settings_exit_2_before_sending(
        stub: StubServer, clean_env: Path, env: dict[str, str | None], config: str,
        said: str) -> None:
    if config:
        write_config(clean_env, config)
    result = invoke(["hi"], env=env)
    assert result.exit_code == 2 and said in result.stderr, result.stderr
    assert stub.requests == []


def test_no_netrc_credentials_are_added_to_a_request_without_a_key(
        private: StubServer, clean_env: Path) -> None:
    """requests would send ~/.netrc's login for the host as Basic auth to a request that
    has no Authorization header of its own: under --no-auth there is none at all."""
    netrc = clean_env / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login someone password {TEST_KEY}\n")
    netrc.chmod(0o600)
    assert invoke(["--no-auth", "--no-stream", "hi"]).exit_code == 0
    assert invoke(["--no-auth", "--stream", "hi"]).exit_code == 0
    assert [r.headers.get("Authorization") for r in private.requests] == [None, None]


# --- 2. --header ------------------------------------------------------------------------

def test_every_api_request_carries_the_headers_and_no_signed_url_does(
        make_stub: Any, tmp_path: Path) -> None:
    server = make_stub(fail=("503",), retry_after=0,
                       batch=BatchStubSettings(time=0.05, validation_time=0.01))
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'"a"\n"b"\n')
    for args in (["--no-stream", "hi"], ["--stream", "hi"], ["models"],
                 ["batch", "--remote", "-o", str(tmp_path / "out.jsonl"), str(source)],
                 ["batches", "list"], ["config", "--check"]):
        result = invoke([*args, "--header", GATEWAY, "--header", "X-Team:ml"])
        assert result.exit_code == 0, (args, result.stderr)
    kinds = set()
    for request in server.requests:
        path, headers = request.path.split("?")[0], request.headers
        kinds.add((request.method, path[:10]))
        if path.startswith("/signed/"):  # the output's own URL: none of our headers
            assert "X-Gateway-Key" not in headers and "X-Team" not in headers
            assert "Authorization" not in headers
            continue
        assert headers["X-Gateway-Key"] == TEST_HEADER_VALUE, (request.method, path)
        assert headers["X-Team"] == "ml"
        assert headers["Authorization"] == f"Bearer {TEST_KEY}"
    assert kinds == {("POST", "/v2/chat"), ("GET", "/v1/models"), ("POST", "/v1/datase"),
                     ("GET", "/v1/datase"), ("POST", "/v2/batche"), ("GET", "/v2/batche"),
                     ("GET", "/signed/co"), ("DELETE", "/v1/datase"), ("POST", "/v1/check-")}


def test_headers_from_the_config_add_up_with_the_flags(stub: StubServer,
                                                         clean_env: Path) -> None:
    write_config(clean_env, "[default]\nheaders =\n    X-Team: ml\n    X-Gateway-Key: old\n\n"
                 f"[profile gw]\nheaders = X-Gateway-Key: {TEST_HEADER_VALUE}\n")
    assert invoke(["--header", "x-team: ops", "hi"]).exit_code == 0
    assert invoke(["--profile", "gw", "hi"]).exit_code == 0
    first, second = (request.headers for request in stub.requests)
    assert (first["X-Team"], first["X-Gateway-Key"]) == ("ops", "old")  # the flag's wins
    assert second["X-Gateway-Key"] == TEST_HEADER_VALUE and "X-Team" not in second


def test_config_shows_the_header_names_never_their_values(stub: StubServer,
                                                           clean_env: Path) -> None:
    path = write_config(clean_env, f"[default]\nheaders = X-Gateway-Key: {TEST_HEADER_VALUE}\n")
    result = invoke(["config", "--header", "X-Team: ml"])  # invoke: no value in the output
    assert result.exit_code == 0
    assert ("headers = X-Team, X-Gateway-Key (values hidden)  # flag --header and "
            f"{path} [default]") in result.stdout
    assert "auth = bearer  # built-in default" in result.stdout
    assert "insecure_http = no" in result.stdout
    result = invoke(["config", "--no-auth"])
    assert "auth = none  # flag --no-auth" in result.stdout
    assert "api_key = (set, not sent: auth = none)" in result.stdout


def test_a_config_readable_by_others_that_holds_headers_is_warned_about(
        stub: StubServer, clean_env: Path) -> None:
    path = write_config(clean_env, f"[default]\nheaders = X-Gateway-Key: {TEST_HEADER_VALUE}\n")
    path.chmod(0o644)
    result = invoke(["config"])
    assert f"{path} holds headers (their values are secrets) and is readable" in result.stderr


BAD_HEADERS = [
    (TEST_HEADER_VALUE, "must be NAME: VALUE (no colon found)"),
    (f"X-A: {TEST_HEADER_VALUE}\r\nX-Evil: 1", "has a line break in the value of X-A"),
    (f"X-A: {TEST_HEADER_VALUE}\nX-Evil: 1", "has a line break in the value of X-A"),
    (f"Bearer {TEST_KEY}: x", "with NAME a header name"),  # a key put in the name
    (f"{TEST_KEY}", "no colon found"),
    (f"X-A {TEST_HEADER_VALUE}", "no colon found"),
    (f": {TEST_HEADER_VALUE}", "with NAME a header name"),
    ("X-A: " + "v" * 8193, "longer than 8192 bytes"),
    (f"X-A: {TEST_HEADER_VALUE}\x00", "has a control character in the value of X-A"),
    (f"X-A: {TEST_HEADER_VALUE}\tb", "has a control character in the value of X-A"),
    (f"X-A: {TEST_HEADER_VALUE}é", "not ASCII in the value of X-A"),
    ("X-A:   ", "has no value for X-A"),
    ("Host: example.com", "may not set Host"),
    ("content-type: text/plain", "may not set content-type"),
    ("Content-Length: 3", "may not set Content-Length"),
    ("X-Client-Name: x", "client_name"),
]


@pytest.mark.parametrize(("header", "said"), BAD_HEADERS)
def test_a_bad_header_exits_2_before_anything_is_sent_naming_no_value(
        stub: StubServer, header: str, said: str) -> None:
    result = invoke(["--header", header, "hi"])  # invoke: neither secret in the output
    assert result.exit_code == 2, result.stderr
    assert said in result.stderr
    assert "v" * 100 not in result.stderr
    assert stub.requests == []


@pytest.mark.parametrize(("header", "said"), [
    item for item in BAD_HEADERS[:12] if "\n" not in item[0]])  # a line each, there
def test_the_config_s_headers_follow_the_same_rule(
        stub: StubServer, clean_env: Path, header: str, said: str) -> None:
    path = write_config(clean_env, f"[default]\nheaders = {header}\n")
    result = invoke(["hi"])
    assert result.exit_code == 2, result.stderr
    assert said in result.stderr and f"(from {path} [default])" in result.stderr
    assert stub.requests == []


def test_a_header_named_twice_is_refused(stub: StubServer, clean_env: Path) -> None:
    result = invoke(["--header", "X-A: 1", "--header", "x-a: 2", "hi"])
    assert result.exit_code == 2 and "--header names the header x-a twice" in result.stderr
    write_config(clean_env, "[default]\nheaders =\n    X-A: 1\n    X-A: 2\n")
    assert invoke(["hi"]).exit_code == 2
    assert stub.requests == []


def test_an_authorization_header_goes_only_with_no_auth(stub: StubServer,
                                                        clean_env: Path) -> None:
    mine = f"Authorization: Bearer {TEST_HEADER_VALUE}"
    result = invoke(["--header", mine, "hi"])
    assert result.exit_code == 2
    assert "an Authorization header (from flag --header) goes only with --no-auth" in (
        result.stderr)
    write_config(clean_env, f"[default]\nheaders = {mine}\n")
    assert invoke(["hi"]).exit_code == 2
    assert stub.requests == []
    result = invoke(["--no-auth", "hi"], env={"CO_API_KEY": None})
    assert result.exit_code == 0, result.stderr
    assert stub.requests[0].headers["Authorization"] == f"Bearer {TEST_HEADER_VALUE}"


def test_no_header_value_in_verbose_dry_run_or_the_run_log(
        make_stub: Any, tmp_path: Path) -> None:
    """-v names the headers, never their values; --dry-run prints the body only; a run
    that fails logs its error, not the values (invoke checks every output)."""
    make_stub(fail=("401",))
    log = tmp_path / "runs.jsonl"
    failed = invoke(["-v", "--log", str(log), "--header", GATEWAY, "hi"])
    assert failed.exit_code == 4
    sent = [line for line in failed.stderr.splitlines() if line.startswith("cohere-chat: POST")]
    assert len(sent) == 1 and sent[0].endswith(" bytes) [headers: X-Gateway-Key]")
    worked = invoke(["-v", "--log", str(log), "--log-content", "--header", GATEWAY, "hi"])
    assert worked.exit_code == 0
    data = log.read_bytes()
    assert TEST_HEADER_VALUE.encode() not in data and TEST_KEY.encode() not in data
    assert [orjson.loads(line)["exit"] for line in data.splitlines()] == [4, 0]
    dry = invoke(["--dry-run", "--header", GATEWAY, "hi"])
    assert dry.exit_code == 0 and orjson.loads(dry.stdout)["messages"]


# --- the redirect: secrets stay with the API's host ---------------------------------------

class _Redirect(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str) -> None:
        self.target = target
        super().__init__(("127.0.0.1", 0), _RedirectHandler)


class _RedirectHandler(BaseHTTPRequestHandler):
    server: _Redirect

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(307)
        self.send_header("Location", self.server.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *_: Any) -> None:
        return None


@pytest.mark.parametrize("target_host", ["127.0.0.2", "127.0.0.1"])  # another host, port
@pytest.mark.parametrize("auth", ["key", "no-auth"])
def test_a_redirect_to_another_origin_drops_the_key_and_every_header(
        monkeypatch: pytest.MonkeyPatch, target_host: str, auth: str) -> None:
    target = start_stub(host=target_host, no_auth=True)
    redirect = _Redirect(target.url)
    serve_in_background(redirect)
    try:
        monkeypatch.setenv("CO_API_URL", f"http://127.0.0.1:{redirect.server_address[1]}")
        args = ["--header", GATEWAY, "--header", "X-Team: ml", "--no-stream", "hi"]
        if auth == "key":
            monkeypatch.setenv("CO_API_KEY", TEST_KEY)
        else:
            args = ["--no-auth", "--header", f"Authorization: Bearer {TEST_HEADER_VALUE}",
                    *args]
        assert invoke(args).exit_code == 0  # the stub there serves it without a key
        assert invoke(["models", *args[:-2]]).exit_code == 0
        assert {request.path[:10] for request in target.requests} == {"/v2/chat", "/v1/models"}
        for request in target.requests:
            headers = request.headers
            assert "Authorization" not in headers and "X-Team" not in headers
            assert "X-Gateway-Key" not in headers
            assert TEST_HEADER_VALUE.encode() not in request.body
    finally:
        redirect.shutdown()
        redirect.server_close()
        target.stop()


def test_a_redirect_on_the_same_origin_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 307 to the same host and port is followed with the key and the headers: only
    another origin loses them."""
    monkeypatch.setenv("CO_API_KEY", TEST_KEY)
    redirect = _Redirect("")
    redirect.target = f"http://127.0.0.1:{redirect.server_address[1]}/again"
    serve_in_background(redirect)
    hops: list[str] = []
    original = _RedirectHandler._answer

    def once(handler: _RedirectHandler) -> None:
        hops.append(handler.headers.get("X-Gateway-Key", ""))
        if handler.path.startswith("/again"):
            handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
            handler.send_response(401)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        original(handler)

    monkeypatch.setattr(_RedirectHandler, "do_POST", once)
    try:
        monkeypatch.setenv("CO_API_URL", f"http://127.0.0.1:{redirect.server_address[1]}")
        assert invoke(["--header", GATEWAY, "--no-stream", "hi"]).exit_code == 4
        assert hops == [TEST_HEADER_VALUE, TEST_HEADER_VALUE]
    finally:
        redirect.shutdown()
        redirect.server_close()


# --- 3. plain http to another host --------------------------------------------------------

@pytest.mark.parametrize(("key", "headers", "insecure", "allowed"), [
    (True, False, False, False), (True, True, True, False), (False, False, False, True),
    (False, True, False, False), (False, True, True, True),
])
def test_plain_http_to_another_host_only_without_secrets(
        key: bool, headers: bool, insecure: bool, allowed: bool) -> None:
    for url in ("http://api.example.com", "http://10.0.0.1:8080"):
        if allowed:
            check_base_url(url, key=key, headers=headers, insecure_http=insecure)
        else:
            with pytest.raises(UsageError):
                check_base_url(url, key=key, headers=headers, insecure_http=insecure)
    check_base_url("https://api.example.com", key=key, headers=headers)  # https: always
    check_base_url("http://127.0.0.1:9", key=key, headers=headers)  # loopback: always


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    """A stub on every address, reached by this machine's name: a host that is not
    loopback by name (no proxy on the way)."""
    server = start_stub(host="0.0.0.0", no_auth=True)
    name = socket.gethostname()
    try:
        socket.getaddrinfo(name, None)
    except OSError:
        server.stop()
        pytest.skip(f"this machine's name {name!r} does not resolve")
    monkeypatch.setenv("CO_API_URL", f"http://{name}:{server.url.rsplit(':', 1)[1]}")
    monkeypatch.setenv("NO_PROXY", "*")
    yield server
    server.stop()


def test_plain_http_to_another_host_is_used_when_nothing_secret_goes(
        elsewhere: StubServer) -> None:
    refused = invoke(["hi"], env={"CO_API_KEY": TEST_KEY})
    assert refused.exit_code == 2
    assert "refusing to send the API key over plain http" in refused.stderr
    assert "--no-auth" in refused.stderr
    assert invoke(["--no-auth", "hi"]).stdout == "echo: hi\n"
    headers = invoke(["--no-auth", "--header", GATEWAY, "hi"])
    assert headers.exit_code == 2
    assert "refusing to send the custom headers' values over plain http" in headers.stderr
    assert "--insecure-http" in headers.stderr
    assert len(elsewhere.requests) == 1
    assert invoke(["--no-auth", "--header", GATEWAY, "--insecure-http", "hi"]).exit_code == 0
    assert elsewhere.requests[-1].headers["X-Gateway-Key"] == TEST_HEADER_VALUE
