"""`python -m asset_sync.cli`."""

from asset_sync.cli import main

main()
