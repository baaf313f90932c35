"""``python -m dma.cli``: the same command as the ``dma`` console script."""

import sys

from dma.cli.app import main

sys.exit(main())
