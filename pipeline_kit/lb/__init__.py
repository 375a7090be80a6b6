"""Load balancing: one HAProxy in master-worker mode, its config applied and reloaded safely."""
