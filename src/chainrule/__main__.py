"""``python -m chainrule``: the ``chainrule`` command."""

from chainrule.cli import main

raise SystemExit(main())
