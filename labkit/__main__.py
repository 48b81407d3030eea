"""``python -m labkit`` is the ``redis-lab`` command."""

import sys

from labkit.cli.main import main

sys.exit(main())
