"""``python -m bulkup`` runs the command line."""

import sys

from bulkup.cli import main

sys.exit(main())
