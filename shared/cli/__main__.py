"""``python -m shared.cli``: the same as the ``cdp`` console script."""

from __future__ import annotations

import sys

from shared.cli import main

sys.exit(main())
