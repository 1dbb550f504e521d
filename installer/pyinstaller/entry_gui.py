"""The bundle's ``hearth`` program: the desktop app (see ``desktop.app``)."""

from desktop.app import main

raise SystemExit(main())
