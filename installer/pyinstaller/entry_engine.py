"""The bundle's ``hearth-engine`` program: the engine, its CLI and its job workers."""

import multiprocessing

from engine.cli import main

multiprocessing.freeze_support()  # a library's pool must not start the CLI again
raise SystemExit(main())
