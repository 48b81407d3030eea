"""``python -m sentinel_lab /path/sentinel.conf [--port N] [--bind ADDR] [--log-json FILE]``."""

from __future__ import annotations

import sys

from sentinel_lab.app import main

if __name__ == "__main__":
    sys.exit(main())
