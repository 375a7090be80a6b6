"""``python -m pipeline_kit``."""

from pipeline_kit.cli.main import entry

entry()
