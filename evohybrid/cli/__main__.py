"""`python -m evohybrid.cli`, the same as the `evohybrid` command."""

import sys

from . import main

sys.exit(main())
