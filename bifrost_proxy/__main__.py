from bifrost_proxy.cli import main

raise SystemExit(main())
