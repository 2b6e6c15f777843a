"""Retries, waits, timeouts, TLS and secrets (README "Reliability"), over loopback to the stub."""
from __future__ import annotations

import os
import ssl
import subprocess
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_KEY, invoke, run_process

from cohere_cli.stub.server import StubServer
from cohere_cli.stub.settings import StubSettings
from cohere_cli.wire.retry import retry_wait

NOW = 1_700_000_000.0


def wait(headers: dict[str, str], attempt: int = 0, max_wait: float = 60) -> float:
    return retry_wait(headers, attempt, max_wait, now=lambda: NOW, jitter=lambda: 0.0)


def test_waits_follow_the_server_first() -> None:
    assert wait({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert wait({"retry-after": "3"}) == 3
    assert wait({"retry-after": "0"}) == 0
    assert wait({"retry-after": formatdate(NOW + 7, usegmt=True)}) == pytest.approx(7, abs=1)
    assert wait({"x-ratelimit-reset": str(int(NOW) + 12)}) == 12
    assert wait({"retry-after": "soon"}) == 1  # unreadable: backoff


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    assert [wait({}, attempt) for attempt in range(4)] == [1, 2, 4, 8]
    jittered = retry_wait({}, 2, 60, jitter=lambda: 1.0)
    assert jittered == 3  # 4 s less at most a quarter
    assert wait({"retry-after": "3600"}, max_wait=60) == 60
    assert wait({}, attempt=10, max_wait=5) == 5
    assert wait({"retry-after": "-5"}) == 0


def test_429_then_success_with_verbose_log(make_stub: Any) -> None:
    server = make_stub(fail=("429",), retry_after=0)
    result = invoke(["-v", "--no-stream", "hi"])
    assert (result.exit_code, result.stdout) == (0, "echo: hi\n")
    assert len(server.requests) == 2
    assert "cohere-chat: HTTP 429" in result.stderr
    assert "cohere-chat: retry 1/2 in 0.00s after HTTP 429" in result.stderr
    assert TEST_KEY not in result.stderr


@pytest.mark.slow
def test_retry_after_is_honoured(make_stub: Any) -> None:
    make_stub(fail=("503",), retry_after=0.6)
    started = time.monotonic()
    assert invoke(["--no-stream", "hi"]).exit_code == 0
    assert time.monotonic() - started >= 0.6


def test_max_wait_caps_a_long_retry_after(make_stub: Any) -> None:
    make_stub(fail=("429",), retry_after=3600)
    # --max-time 60: had the hour been waited, the run would end there, exit 7
    result = invoke(["-v", "--no-stream", "--max-wait", "0.1", "--max-time", "60", "hi"])
    assert result.exit_code == 0, result.stderr
    assert "cohere-chat: retry 1/2 in 0.10s after HTTP 429" in result.stderr


@pytest.mark.parametrize(("rule", "code", "message"), [
    ("429x3", 6, "HTTP 429: stub: injected 429; rate limited"),
    ("503x3", 7, "HTTP 503: stub: injected 503"),
    ("500x3", 7, "HTTP 500"),
    ("408x3", 7, "HTTP 408"),
    ("409x3", 7, "HTTP 409"),
    ("dropx3", 7, "the server at 127.0.0.1:"),
])
def test_retries_spent_give_the_right_exit(make_stub: Any, rule: str, code: int,
                                           message: str) -> None:
    server = make_stub(fail=(rule,), retry_after=0)
    result = invoke(["--no-stream", "--max-wait", "0", "hi"])
    assert result.exit_code == code
    assert message in result.stderr
    if rule.startswith("drop"):
        assert result.stderr.endswith(  # closed or reset
            " the connection without answering; try again later, or raise --retries\n")
    assert len(server.requests) == 3  # one try and two retries


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_a_dropped_connection_is_retried(make_stub: Any, stream: str) -> None:
    server = make_stub(fail=("drop",))
    result = invoke([stream, "--max-wait", "0", "hi"])
    assert (result.exit_code, result.stdout) == (0, "echo: hi\n")
    assert len(server.requests) == 2


@pytest.mark.slow
def test_a_server_that_hangs_times_out_and_is_retried(make_stub: Any) -> None:
    server = make_stub(fail=("hang",))
    result = invoke(["--no-stream", "--timeout", "0.5", "--max-wait", "0", "hi"])
    assert (result.exit_code, result.stdout) == (0, "echo: hi\n")
    assert len(server.requests) == 2


def test_retries_zero_means_one_attempt(make_stub: Any) -> None:
    server = make_stub(fail=("500",))
    assert invoke(["--no-stream", "--retries", "0", "hi"]).exit_code == 7
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", ["400", "401", "403", "404", "422"])
def test_client_errors_are_never_retried(make_stub: Any, status: str) -> None:
    server = make_stub(fail=(status,))
    assert invoke(["--no-stream", "hi"]).exit_code in (4, 5)
    assert len(server.requests) == 1


def test_a_200_that_is_not_json_exits_7(make_stub: Any) -> None:
    make_stub(fail=("garbage",))
    result = invoke(["--no-stream", "hi"])
    assert result.exit_code == 7
    assert "not JSON" in result.stderr


def test_nothing_listening_exits_7(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CO_API_KEY", TEST_KEY)
    result = invoke(["--base-url", "http://127.0.0.1:9", "--max-wait", "0", "hi"])
    assert result.exit_code == 7
    assert result.stderr.startswith("cohere-chat: error: cannot reach 127.0.0.1:9")
    assert result.stderr.count("\n") == 1


@pytest.mark.slow
def test_tracebacks_only_when_debugging_and_never_with_the_key(make_stub: Any) -> None:
    make_stub(fail=("401", "401"))
    quiet = run_process(["--no-stream", "hi"])
    assert quiet.returncode == 4 and b"Traceback" not in quiet.stderr
    loud = run_process(["--no-stream", "hi"], env={**_env(), "COHERE_CHAT_DEBUG": "1"})
    assert loud.returncode == 4 and b"Traceback" in loud.stderr
    assert b"Authorization" not in loud.stderr  # run_process also checks for the key itself


def _env() -> dict[str, str]:
    return dict(os.environ)


def test_the_key_is_never_in_a_url(stub: StubServer) -> None:
    invoke(["--no-stream", "hi"])
    invoke(["hi"])
    assert stub.requests and all(TEST_KEY not in r.path for r in stub.requests)



class CountingContext(ssl.SSLContext):
    """A server context that counts the connections it was asked to secure."""

    wrapped = 0

    def wrap_socket(self, *args: Any, **kwargs: Any) -> Any:
        self.wrapped += 1
        return super().wrap_socket(*args, **kwargs)


@pytest.fixture
def tls_context(certificate: tuple[Path, Path]) -> CountingContext:
    context = CountingContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def tls_stub(tls_context: CountingContext, monkeypatch: pytest.MonkeyPatch) -> Any:
    server = StubServer(StubSettings(), tls=tls_context)
    server.start()
    monkeypatch.setenv("CO_API_URL", server.url)
    monkeypatch.setenv("CO_API_KEY", TEST_KEY)
    yield server
    server.stop()


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_tls_is_verified_and_an_unknown_certificate_is_not_retried(
        tls_stub: StubServer, tls_context: CountingContext, stream: str) -> None:
    result = invoke([stream, "--retries", "3", "--max-wait", "0", "hi"])
    assert result.exit_code == 7
    assert "TLS error" in result.stderr and "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert tls_context.wrapped == 1  # one connection: retries would not make it trusted
    assert tls_stub.requests == []


def test_ca_bundle_flag_and_environment(tls_stub: StubServer, certificate: tuple[Path, Path],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke(["--no-stream", "--ca-bundle", str(certificate[0]), "hi"])
    assert (result.exit_code, result.stdout) == (0, "echo: hi\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    assert invoke(["hi"]).stdout == "echo: hi\n"


@pytest.mark.parametrize(("rule", "sent"), [("dropx5", 3), ("503x5", 3), ("cut=1x5", 1)])
def test_a_stream_spends_one_retry_budget(make_stub: Any, rule: str, sent: int) -> None:
    server = make_stub(fail=(rule,), retry_after=0)
    result = invoke(["--stream", "--retries", "2", "--max-wait", "0", "hi"])
    assert result.exit_code == 7
    # one try and two retries before an answer; a request that got its 200 is never re-sent
    assert len(server.requests) == sent


def test_a_stream_cut_after_its_200_is_never_sent_again(make_stub: Any) -> None:
    server = make_stub(fail=("cut=1", "503x5"), retry_after=0)
    result = invoke(["--stream", "--retries", "2", "--max-wait", "0", "hi"])
    assert result.exit_code == 7
    assert result.stderr == ("cohere-chat: error: the stream stopped before the reply was "
                             "complete (the connection closed)\n")
    assert len(server.requests) == 1


def test_ca_bundle_flag_outranks_the_environment(
    tls_stub: StubServer, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    wrong = tmp_path / "wrong.pem"
    wrong.write_text("not a certificate\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(wrong))
    result = invoke(["--no-stream", "--ca-bundle", str(certificate[0]), "hi"])
    assert (result.exit_code, result.stdout) == (0, "echo: hi\n")


@pytest.mark.parametrize("name", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
@pytest.mark.parametrize("args", [["--no-stream", "hi"], ["models"], ["batches", "list"],
                                  ["config", "--check"]], ids=" ".join)
def test_a_ca_variable_naming_nothing_is_exit_2_naming_it_before_sending(
    tls_stub: StubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
    args: list[str]
) -> None:
    # requests read it and raised an OSError: "internal error", exit 1
    monkeypatch.setenv(name, str(tmp_path / "gone.pem"))
    result = invoke(args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (f"cohere-chat: error: {name} {tmp_path}/gone.pem: no such file "
                             f"or folder; unset {name}, or point it at CA certificates\n")
    assert tls_stub.requests == []


@pytest.mark.slow
def test_a_ca_variable_naming_a_fifo_over_tls_is_exit_3_never_waited_on(
    tls_stub: StubServer, tmp_path: Path
) -> None:
    # the TLS library opened it and waited for a writer that never came
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    env = {**os.environ, "CURL_CA_BUNDLE": str(fifo)}
    try:
        done = run_process(["--no-stream", "hi"], env=env, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("still waiting on the FIFO after 60 s")
    assert done.returncode == 3, done.stderr
    assert done.stderr == (f"cohere-chat: error: CURL_CA_BUNDLE {fifo}: a FIFO, not a "
                           "regular file\n").encode()
    assert tls_stub.requests == []


def test_a_ca_variable_may_name_a_folder_and_the_flag_outranks_it(
    tls_stub: StubServer, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path))  # a folder of certificates
    result = invoke(["--no-stream", "hi"])
    assert result.exit_code == 7 and "CERTIFICATE_VERIFY_FAILED" in result.stderr  # not ours
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "gone.pem"))
    result = invoke(["--no-stream", "--ca-bundle", str(certificate[0]), "hi"])
    assert (result.exit_code, result.stdout) == (0, "echo: hi\n")


def test_no_proxy_sees_the_key_on_loopback(stub: StubServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    result = invoke(["--no-stream", "hi"])
    assert (result.exit_code, result.stdout) == (0, "echo: hi\n")
