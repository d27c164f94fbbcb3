"""confcenter Python client: a live, cached view of a tenant's resolved configuration.

See client/python/README.md and the contract in docs/clients.md. The generated stubs
(confcenter.v1.*_pb2) must be importable. The asyncio variant is
confcenter_client.aio.AsyncSubscription: PYTHONPATH=BUILD_DIR/python:client/python.
"""

from .credentials import (Credentials, CredentialsError, TokenError, TokenSource,
                          channel_credentials, credentials_from_environment, make_aio_channel,
                          make_channel)
from .subscription import LIBRARY, Status, Subscription, __version__
from .values import (ConfigChange, ConfigValue, parse_bool, parse_duration, parse_duration_ns,
                     parse_float, parse_int)

__all__ = [
    "ConfigChange", "ConfigValue", "Credentials", "CredentialsError", "LIBRARY", "Status",
    "Subscription", "TokenError", "TokenSource", "channel_credentials",
    "credentials_from_environment", "make_aio_channel", "make_channel", "parse_bool",
    "parse_duration", "parse_duration_ns", "parse_float", "parse_int", "__version__",
]
