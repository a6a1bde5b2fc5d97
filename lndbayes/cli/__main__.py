"""`python -m lndbayes.cli ...`: the same as the `lndbayes` command."""

import sys

from lndbayes.cli import main

sys.exit(main())
