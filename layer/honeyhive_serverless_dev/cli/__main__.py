"""``python -m honeyhive_serverless_dev.cli``: the same as the ``hh-serverless`` console script."""

from __future__ import annotations

import sys

from honeyhive_serverless_dev.cli import main

sys.exit(main())
