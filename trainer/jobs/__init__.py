"""One module per job; each has `run(config, run) -> exit code`."""
