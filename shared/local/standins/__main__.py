"""Run one provider's stand-in on its own: ``python -m shared.local.standins meta --port 8601``
(prints its URL and the environment that points the destination at it)."""

from __future__ import annotations

import argparse
import json
import threading

from shared.local.standins import PROVIDERS, start


def main() -> None:
    parser = argparse.ArgumentParser(description="A provider's API stand-in, on loopback")
    parser.add_argument("provider", choices=PROVIDERS)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    standin, environment = start(args.provider, args.port)
    print(f"{args.provider} stand-in at {standin.url}", flush=True)
    print(json.dumps(environment, indent=2), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
