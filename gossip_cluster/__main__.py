"""``python -m gossip_cluster --port P --cluster-config-file F --cluster-node-timeout MS``."""

import sys

from gossip_cluster.cli import main

sys.exit(main())
