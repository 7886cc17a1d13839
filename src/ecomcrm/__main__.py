"""``python -m ecomcrm``: the same as the ``ecomcrm`` command."""

from ecomcrm.cli import main

raise SystemExit(main())
