"""``python -m container.serving``: the image's `serve` command."""

import sys

from container.serving.server import main

sys.exit(main(sys.argv[1:]))
