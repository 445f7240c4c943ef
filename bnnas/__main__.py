"""``python -m bnnas``: the same as the ``bnnas`` command."""

import sys

from bnnas.cli import main

sys.exit(main())
