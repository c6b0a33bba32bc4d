"""placeholder"""

TABLES: dict[tuple[str, str], dict] = {}
