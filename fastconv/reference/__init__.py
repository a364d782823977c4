"""Plain NumPy reference implementations: slow, float64, obviously right.

The oracle of the test-suite and of every fast algorithm.  One module per
family (``conv``, ``pool``, ...); everything is re-exported here, so tests write
``from fastconv import reference as ref; ref.conv(...)``.
"""

from .backward import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .local import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .signal import *  # noqa: F401,F403
