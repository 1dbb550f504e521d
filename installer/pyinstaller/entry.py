"""The bundle's program. Started as ``hearth`` it is the desktop app (``desktop.app``); started
as ``hearth-engine`` -- on Linux a link to the same file, elsewhere a second executable built
from this script -- it is the engine, its CLI and its job workers (``engine.cli``)."""

import multiprocessing
import sys

from hearth_common.frozen import runs_engine

multiprocessing.freeze_support()  # a library's pool must not start the program again
if runs_engine(sys.argv[0]):
    from engine.cli import main
else:
    from desktop.app import main
raise SystemExit(main())
