from facepay.cli import main

raise SystemExit(main())
