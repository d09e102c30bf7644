"""`python -m integration.cli`: the command line, as `storepulse serve` and the demo start their processes."""

from __future__ import annotations

import os

from integration.cli import main

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
