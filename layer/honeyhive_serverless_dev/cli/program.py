"""The program's name, its distribution and the extra it needs: the leaf of the CLI package, which the
entry point and every command can import without importing each other."""

PROG = "hh-serverless"
DISTRIBUTION = "honeyhive-serverless"
EXTRA = "cli"
