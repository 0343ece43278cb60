"""``make bench``: every benchmark, one after the other, each printing ratios against a
baseline measured in the same run."""

from __future__ import annotations

import sys

from bench import audiences, cost, destinations, identity, ingest, tiering, warehouse


def main() -> int:
    status = ingest.main()
    print()
    for line in tiering.run():
        print(line)
    print()
    for line in identity.run():
        print(line)
    print()
    for line in warehouse.run():
        print(line)
    print()
    for line in audiences.run():
        print(line)
    print()
    status = max(status, destinations.main())  # 1 when a stand-in refused anything
    print()
    status = max(status, cost.main())  # 1 when the cost target is missed
    return status


if __name__ == "__main__":
    sys.exit(main())
