"""facepay.testing: doubles at the real seams, for tests, examples and benchmarks.

As httpx ships ``MockTransport`` for its users, facepay ships what a test of a till
needs, so that no test builds its own twin of the product:

* :class:`ClipCamera`, a recorded clip as the till's camera, and :class:`FakeClock`;
* :func:`fixed_liveness_plan`, the challenges a clip performs (never at a real till);
* :class:`Sandbox`, the reference backend in this process on a loopback port, and
  :func:`connect_till`, a real ``Till`` registered with it, and :func:`free_port` for
  a server a test starts itself;
* :class:`SignedAnswers`, a scripted backend's (``httpx.MockTransport``) answers signed
  as the backend signs them, for a client that believes only signed answers;
* :class:`ProtocolTill`, a raw protocol-v1 client that can send what a well-behaved
  client would not (a reused nonce, a forged signature, a NaN template);
* :func:`face` / :func:`same_face` / :func:`template`, synthetic templates, and
  :class:`SyntheticFaces`, a till's face stage made of them;
* :class:`TemporaryPostgres`, a throwaway PostgreSQL cluster (never for production).

Nothing here is imported by the product's own code paths. Names load on first use.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
