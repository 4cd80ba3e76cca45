"""The stable public path of the pure scheduler (``from engine.scheduler import Scheduler``).

The code lives in ``engine.scheduling``; outside tools and benchmarks that drive the
scheduler with its event vocabulary import it from here or from that package.
"""

from engine.scheduling import *  # noqa: F403
from engine.scheduling import __all__  # noqa: F401
