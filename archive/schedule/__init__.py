"""When each source is checked: the scheduling policy (pure), the checks recorded and the next
ones written (checks), the work queue with its leases, and the status of it all."""
