"""Privacy: the kept faces nobody matched (review, delete, enrol, retention), erasing a person
everywhere, and the optional admin PIN (stored salted and hashed)."""
