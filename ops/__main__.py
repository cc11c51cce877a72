"""`python -m ops`: the operators' command line."""

from ops.cli import main

raise SystemExit(main())
