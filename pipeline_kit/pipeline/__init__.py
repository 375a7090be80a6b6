"""The steps a command runs: load → plan → check → apply → report."""
