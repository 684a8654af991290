import sys

from container.preparation.job import main

sys.exit(main())
