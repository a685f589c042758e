import sys

from bridge.devnode import main

sys.exit(main())
