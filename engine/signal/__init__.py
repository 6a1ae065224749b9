"""torch.signal: ``engine.signal.windows`` (window functions).

>>> import engine
>>> engine.signal.windows.hann(3).tolist()
[0.0, 1.0, 0.0]
"""

from engine.signal import windows

__all__ = ["windows"]
