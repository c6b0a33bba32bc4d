"""The register: who each session expected and their status, class lists, and the reports a teacher
or HR opens in Excel."""
