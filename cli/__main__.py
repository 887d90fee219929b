"""``python -m cli``: ``slope`` without the installed script (the job runner starts workers so)."""

import sys

from cli.main import main

sys.exit(main())
