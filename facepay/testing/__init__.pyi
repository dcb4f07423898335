# ruff: noqa: I001  (grouped by what a test stands in for)
# facepay.testing: doubles at the real seams, for tests, examples and benchmarks of
# facepay and of the software built on it. Names listed once, here (see facepay/__init__.py).

# The camera and the clock.
from .clips import ClipCamera as ClipCamera
from .clips import FakeClock as FakeClock
from .clips import fixed_liveness_plan as fixed_liveness_plan

# The backend, in this process, and a client that can misbehave.
from .sandbox import ProvisionedDevice as ProvisionedDevice
from .sandbox import Sandbox as Sandbox
from .sandbox import connect_till as connect_till
from .protocol_till import CONSENT as CONSENT
from .protocol_till import PHONE as PHONE
from .protocol_till import ProtocolTill as ProtocolTill
from .protocol_till import rows as rows
from .ports import free_port as free_port
from .answers import SignedAnswers as SignedAnswers
from .answers import signed_by_sandbox as signed_by_sandbox

# Faces without the face models.
from .synthetic import SyntheticFaces as SyntheticFaces
from .synthetic import face as face
from .synthetic import same_face as same_face
from .synthetic import template as template

# A throwaway PostgreSQL cluster (never for production).
from .postgres import TemporaryPostgres as TemporaryPostgres

__all__: list[str]
