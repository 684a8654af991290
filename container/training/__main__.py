"""``python -m container.training``: the image's `train` command."""

import sys

from container.training.job import main

sys.exit(main())
