import sys

from wasmelt.cli import main

sys.exit(main())
