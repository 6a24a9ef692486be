"""``python -m ops_tools.consistency``."""

import sys

from .cli import main

sys.exit(main())
