"""The command line at the edge: argument parsing, one module per command, and the process's
start, signals and error lines (``process``)."""
