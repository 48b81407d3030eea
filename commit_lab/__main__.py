"""``python -m commit_lab demo|compare|sweep|bench ...``."""

import sys

from commit_lab.cli import main

sys.exit(main())
