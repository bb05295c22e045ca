"""``python -m hydrarec_minimal`` runs the command line (see ``hydrarec_minimal.course.cli``)."""

from hydrarec_minimal.course.cli import main

raise SystemExit(main())
