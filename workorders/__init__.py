"""Work orders: approval policy, state machine, event log, scheduled implementation."""
