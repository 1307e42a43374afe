"""``python -m drills``: every drill, one table (see :mod:`drills.run`)."""

import sys

from drills.run import main

sys.exit(main())
