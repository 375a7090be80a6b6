"""``python -m pipeline_kit``."""

import sys

from pipeline_kit.cli.main import main

sys.exit(main())
