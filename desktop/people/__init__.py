"""The People tab's register dialogs: editing a person, groups, a person's history, importing a class
list and enrolling from a folder."""
