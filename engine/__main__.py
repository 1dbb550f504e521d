"""``python -m engine`` is the same as ``hearth-engine``."""

from engine.cli import main

raise SystemExit(main())
