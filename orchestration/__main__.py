"""`python -m orchestration <step>`: see orchestration/cli.py."""

import sys

from orchestration.cli import main

sys.exit(main())
