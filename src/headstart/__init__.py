"""headstart: transfer learning on text.

>>> import headstart
>>> result = headstart.fit(data="bbc-news", strategy="head")
>>> predictor = headstart.load(result.run_dir)
>>> predictor.predict(["Shares fell sharply after the profit warning."])
"""

from headstart.api import FitResult, fit, load
from headstart.config import FitConfig
from headstart.core.env import version
from headstart.errors import HeadstartError
from headstart.strategies import STRATEGIES

__all__ = ["STRATEGIES", "FitConfig", "FitResult", "HeadstartError", "fit", "load"]
__version__ = version()
