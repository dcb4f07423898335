"""facepay: face-pay checkout for retail point of sale, done with privacy first.

This module is the public API: applications (the kiosk, a retailer's POS) import from
``facepay`` only. Its names are listed once, in ``__init__.pyi``; everything else is
importable from its subpackage and may change.
"""

import lazy_loader as _lazy

# The checkout flow, the client, the models and the sandbox pull in httpx, pydantic,
# cryptography, OpenCV and FastAPI (seconds on the 2-core till): each name loads on first
# use (PEP 562), so that `import facepay` for one part, or for the CLI, stays fast.
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
__all__ = [*__all__, "__version__"]

__version__ = "0.1.0"
