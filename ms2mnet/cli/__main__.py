"""`python -m ms2mnet.cli`: the same as the `ms2mnet` command."""

import sys

from ms2mnet.cli import main

sys.exit(main())
