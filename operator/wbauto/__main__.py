import sys

from wbauto.cli.main import main

sys.exit(main())
