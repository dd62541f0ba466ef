"""``python -m asset_sync.local.stand_in --assets 35000 --port 8080`` (see `cli.main`)."""

import sys

from asset_sync.local.stand_in.cli import main

sys.exit(main())
