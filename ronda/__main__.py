from ronda.cli import main

raise SystemExit(main())
