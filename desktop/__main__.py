"""``python -m desktop`` is the same as ``hearth``."""

from desktop.app import main

raise SystemExit(main())
