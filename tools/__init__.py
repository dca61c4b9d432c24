"""Tools that drive the system from outside: the CLI, the embedded launcher, the scenario and
the partner client. No service imports them (import-linter, in the test command)."""
