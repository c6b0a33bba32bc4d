"""The register on disk: the SQLite database, its migrations, backups and the one-window lock."""
