"""``python -m hydrarec_minimal`` runs the command line (see ``hydrarec_minimal.cli``)."""

from hydrarec_minimal.cli import main

raise SystemExit(main())
