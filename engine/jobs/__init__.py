"""Jobs: long operations with state, progress, metrics and a log, persisted in SQLite.

``registry`` names the job kinds, ``store`` persists them, ``manager`` runs them (in a thread,
or in a worker subprocess for torch-heavy kinds), ``worker`` is that subprocess's entry point.
"""
