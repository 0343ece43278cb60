"""Local stand-ins for the providers' APIs: each checks requests the way the provider documents
its API, independently of our sender's code, and can be told to fail (``base.py``).

``cdp dev`` starts one per destination unless that destination's endpoint is set in the
environment (``endpoint_variable``): then the environment's endpoint and credentials are used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from shared.local.standins.base import StandIn

# The generic webhook has a stand-in of its own (shared/local/webhook_standin.py).
PROVIDERS = ("amplitude", "intercom", "meta", "appsflyer", "firebase", "slack")
ENDPOINT_VARIABLES = {"slack": "CDP_SLACK_WEBHOOK_URL", "webhook": "CDP_WEBHOOK_URL"}


def endpoint_variable(name: str) -> str:
    """The variable that points destination ``name`` elsewhere than a stand-in."""
    return ENDPOINT_VARIABLES.get(name, f"CDP_{name.upper()}_ENDPOINT")


def start(name: str, port: int = 0) -> tuple[StandIn, dict[str, str]]:
    """Start ``name``'s stand-in on ``port`` and return it with the environment that points the
    destination at it (its endpoint and the credentials it checks)."""
    module = importlib.import_module(f"shared.local.standins.{name}")
    kinds = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, StandIn) and v is not StandIn
    ]
    if len(kinds) != 1:
        raise LookupError(f"shared.local.standins.{name} should hold one StandIn, has {kinds}")
    standin = kinds[0](port=port)
    environment: Callable[[str], dict[str, str]] = module.function_environment
    return standin, environment(standin.start())
