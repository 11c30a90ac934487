"""The operator's command line: one module per command group, all on the same database."""
