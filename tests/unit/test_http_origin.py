"""What an outbound HTTP failure says about where it went: scheme and host, never a path, query
or user part that may be a credential."""

from __future__ import annotations

import httpx
import pytest

from shared.adapters.http import HttpxSender, origin
from shared.errors import BackendUnavailable
from shared.ports.http import HttpRequest


@pytest.mark.parametrize(
    ("url", "shown"),
    [("https://hooks.example.com/T0/B1/secret-token", "https://hooks.example.com"),
     ("https://user:pass@hooks.example.com:8443/x?token=abc", "https://hooks.example.com:8443"),
     ("http://127.0.0.1:9/mp/collect?api_secret=shh", "http://127.0.0.1:9"),
     ("not a url", "://?")],
)  # fmt: skip
def test_origin(url: str, shown: str) -> None:
    assert origin(url) == shown


def test_a_transport_error_names_only_the_origin() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sender = HttpxSender(httpx.MockTransport(refuse))
    url = "https://user:pw@hooks.example.com/hook/s3cret?token=t0k3n"
    with pytest.raises(BackendUnavailable) as raised:
        sender.send(HttpRequest("POST", url))
    assert str(raised.value) == "POST https://hooks.example.com: ConnectError"
