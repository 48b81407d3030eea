"""Studies: real Redis (and our components) under faults, with reports."""
