"""``python -m green_zmq.bench``."""

import sys

from .schedule import main

sys.exit(main())
