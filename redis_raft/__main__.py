"""``python -m redis_raft --id N --port P --peers ... --dir DIR``: run one Raft node."""

import sys

from redis_raft.driver.main import main

sys.exit(main())
