"""StorageRoot's delta-rs/pyarrow options and the one-line storage error messages (no JVM)."""

from __future__ import annotations

import pytest

from featurelake.errors import ConfigError
from featurelake.lakehouse.storage import StorageRoot, network_cause, short_error

# delta-rs 1.6's text for a refused connection, colours and all (captured from a real run).
REFUSED = OSError(
    "Kernel error -> Generic S3 error\n"
    "          \x1b[31m\u21b3\x1b[0m Error performing GET http://127.0.0.1:9/b/x/_delta_log/_last_checkpoint "
    "in 217.5ms, after 2 retries, max_retries\n"
    "           \x1b[31m\u21b3\x1b[0m 2, retry_timeout\n"
    "            \x1b[31m\u21b3\x1b[0m 10s  - HTTP error\n"
    "             \x1b[31m\u21b3\x1b[0m error sending request\n"
    "              \x1b[31m\u21b3\x1b[0m client error (Connect)\n"
    "               \x1b[31m\u21b3\x1b[0m tcp connect error\n"
    "                \x1b[31m\u21b3\x1b[0m Connection refused (os error 111)\n"
)
# pyarrow's (AWS SDK over curl) text for an endpoint that accepts and never answers.
STALLED = OSError(
    "When listing objects under key 'x/' in bucket 'b': AWS Error NETWORK_CONNECTION during "
    "ListObjectsV2 operation: curlCode: 28, Timeout was reached; Details: Operation too slow. "
    "Less than 1 bytes/sec transferred the last 5 seconds"
)

S3 = StorageRoot.parse("s3://b/p", {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})


def test_short_error_keeps_the_root_cause_and_drops_colours() -> None:
    text = short_error(REFUSED)
    assert "\x1b" not in text and "\u21b3" not in text and "\n" not in text
    assert text.startswith("Kernel error -> Generic S3 error Error performing GET http://127.0.0.1:9/")
    assert text.endswith("(cause: Connection refused (os error 111))")


def test_short_error_cuts_the_head_never_the_cause() -> None:
    err = RuntimeError("x" * 2000 + "\n\x1b[31m\u21b3\x1b[0m Connection refused (os error 111)")
    text = short_error(err, limit=200)
    assert len(text) <= 200
    assert text.endswith("(cause: Connection refused (os error 111))")


def test_short_error_of_a_plain_error_keeps_its_first_lines() -> None:
    assert short_error(ValueError("one\n\ntwo\nthree\nfour")) == "one two three"
    assert short_error(ValueError("")) == "ValueError"


@pytest.mark.parametrize(
    ("err", "cause"),
    [
        (REFUSED, "Connection refused (os error 111)"),
        (STALLED, "timed out: nothing received for 5 s"),
        (OSError("error sending request\n\u21b3 operation timed out"), "timed out"),
        (OSError("Generic S3 error: bucket does not exist"), None),
    ],
)
def test_network_cause(err: BaseException, cause: str | None) -> None:
    assert network_cause(err) == cause


def test_reach_hint_names_the_endpoint_cause_and_fix() -> None:
    hint = S3.reach_hint(REFUSED)
    assert "http://127.0.0.1:9 did not answer (Connection refused (os error 111))" in hint
    assert "storage.s3.endpoint_url" in hint and "featurelake services up" in hint
    assert S3.network_hint(OSError("AccessDenied")) == ""


def test_metadata_options_are_short_and_data_options_long() -> None:
    meta = S3.delta_options()
    assert meta["connect_timeout"] == "3s" and meta["timeout"] == "5s"
    assert meta["AWS_ALLOW_HTTP"] == "true" and meta["conditional_put"] == "etag"
    data = S3.delta_options(data=True)
    assert data["timeout"] == "120000ms" and data["connect_timeout"] == "3s"


def test_caller_timeouts_win_and_reach_pyarrow() -> None:
    root = StorageRoot.parse("s3://b/p", {"TIMEOUT": "2min", "connect_timeout": "500ms"})
    assert root.delta_options()["TIMEOUT"] == "2min"
    assert root.delta_options(data=True)["timeout"] == "120000ms"
    assert root._timeouts() == (0.5, 120.0)
    longer = StorageRoot.parse("s3://b/p", {"timeout": "300s"})
    assert longer.delta_options(data=True)["timeout"] == "300000ms"


@pytest.mark.parametrize("value", ["soon", "0s", "-1s", "5 parsecs"])
def test_bad_timeout_is_named(value: str) -> None:
    root = StorageRoot.parse("s3://b/p", {"timeout": value})
    with pytest.raises(ConfigError, match=rf"storage option timeout={value!r} is not a positive duration"):
        root.delta_options()


def test_local_roots_get_no_s3_options(tmp_path) -> None:
    assert StorageRoot.parse(str(tmp_path)).delta_options(data=True) == {}
