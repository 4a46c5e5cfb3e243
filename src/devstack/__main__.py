from devstack.entry import main

raise SystemExit(main())
