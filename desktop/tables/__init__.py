"""Qt item models over core data (people, sessions, marks): views show them, pages never fill tables by hand."""
