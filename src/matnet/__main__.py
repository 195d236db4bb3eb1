"""``python -m matnet ...``: the same as the ``matnet`` command."""

import sys

from matnet.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
