"""Credentials: TLS (CA, client certificate for mutual TLS) and a bearer token, and a helper
that makes the channel from an address.

A token is sent on plaintext channels too (the loopback default), so anyone who can read the
traffic can replay it: set a CA whenever the server is not on this host.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import grpc
import grpc.aio


class CredentialsError(ValueError):
    """Credentials that cannot be used: a field missing its partner, an unreadable PEM file."""


class TokenError(Exception):
    """The token file cannot be read or is empty: the call must not be made (it fails as
    UNAUTHENTICATED would)."""


@dataclass
class Credentials:
    """How the client proves who it is and checks the server.

    ca_file: PEM of the CAs the server's certificate must chain to; set = TLS on.
    cert_file, key_file: client certificate and key for mutual TLS (both or neither; need
        ca_file).
    server_name: the name to check the server's certificate against instead of the
        address's host (needs ca_file).
    token: a bearer token sent as `authorization: Bearer <token>` on every call; takes
        precedence over token_file.
    token_file: a file holding the token, re-read whenever it changes (a rotated token is
        picked up at the next reconnect).
    """

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    token: str = ""
    token_file: str = ""

    @property
    def tls(self) -> bool:
        return bool(self.ca_file)

    @classmethod
    def from_environment(cls) -> "Credentials":
        """CONFCENTER_CA, CONFCENTER_CERT, CONFCENTER_KEY, CONFCENTER_TOKEN,
        CONFCENTER_TOKEN_FILE; unset or empty leaves the field empty. Nothing is read yet."""
        env = os.environ
        return cls(ca_file=env.get("CONFCENTER_CA", ""), cert_file=env.get("CONFCENTER_CERT", ""),
                   key_file=env.get("CONFCENTER_KEY", ""), token=env.get("CONFCENTER_TOKEN", ""),
                   token_file=env.get("CONFCENTER_TOKEN_FILE", ""))


def credentials_from_environment() -> Credentials:
    """Credentials.from_environment()."""
    return Credentials.from_environment()


def _read_pem(field: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CredentialsError(f"{field}: cannot read {path}: {e.strerror}") from e
    if b"-----BEGIN " not in data:
        raise CredentialsError(f"{field}: {path} holds no PEM block (-----BEGIN ...)")
    return data


def channel_credentials(credentials: Credentials) -> Optional[grpc.ChannelCredentials]:
    """grpc.ssl_channel_credentials from the CA (and client certificate) when ca_file is set,
    else None (plaintext). Reads the PEM files now. Raises CredentialsError."""
    if bool(credentials.cert_file) != bool(credentials.key_file):
        raise CredentialsError(
            f"cert_file: required with key_file {credentials.key_file}" if not credentials.cert_file
            else f"key_file: required with cert_file {credentials.cert_file}")
    if not credentials.tls:
        if credentials.cert_file:
            raise CredentialsError(f"ca_file: required with cert_file {credentials.cert_file} "
                                   "(TLS is on only with a CA to check the server against)")
        if credentials.server_name:
            raise CredentialsError(
                f'ca_file: required with server_name "{credentials.server_name}" (TLS is off)')
        return None
    roots = _read_pem("ca_file", credentials.ca_file)
    chain = key = None
    if credentials.cert_file:
        chain = _read_pem("cert_file", credentials.cert_file)
        key = _read_pem("key_file", credentials.key_file)
    return grpc.ssl_channel_credentials(root_certificates=roots, private_key=key,
                                        certificate_chain=chain)


def _channel_options(credentials: Credentials, initial_backoff: float, max_backoff: float,
                     options: Sequence[Tuple[str, object]]) -> List[Tuple[str, object]]:
    opts: List[Tuple[str, object]] = [
        ("grpc.initial_reconnect_backoff_ms", max(1, int(initial_backoff * 1000))),
        ("grpc.min_reconnect_backoff_ms", max(1, int(initial_backoff * 1000))),
        ("grpc.max_reconnect_backoff_ms", max(1, int(max_backoff * 1000))),
        # A view can be large: no limit on a snapshot message.
        ("grpc.max_receive_message_length", -1),
    ]
    if credentials.server_name:
        opts.append(("grpc.ssl_target_name_override", credentials.server_name))
    opts.extend(options)
    return opts


def make_channel(address: str, credentials: Optional[Credentials] = None, *,
                 initial_backoff: float = 0.1, max_backoff: float = 10.0,
                 options: Sequence[Tuple[str, object]] = ()) -> grpc.Channel:
    """A channel to `address` (host:port, or any gRPC target such as dns:///name:port), TLS if
    credentials.ca_file is set. The channel's own reconnect back-off runs from
    initial_backoff to max_backoff seconds. The token is not part of the channel: the
    Subscription sends it per call (so a token file is re-read on every reconnect)."""
    credentials = credentials or Credentials()
    opts = _channel_options(credentials, initial_backoff, max_backoff, options)
    ssl = channel_credentials(credentials)
    if ssl is None:
        return grpc.insecure_channel(address, options=opts)
    return grpc.secure_channel(address, ssl, options=opts)


def make_aio_channel(address: str, credentials: Optional[Credentials] = None, *,
                     initial_backoff: float = 0.1, max_backoff: float = 10.0,
                     options: Sequence[Tuple[str, object]] = ()) -> "grpc.aio.Channel":
    """make_channel for asyncio: a grpc.aio channel (make it inside the running loop)."""
    credentials = credentials or Credentials()
    opts = _channel_options(credentials, initial_backoff, max_backoff, options)
    ssl = channel_credentials(credentials)
    if ssl is None:
        return grpc.aio.insecure_channel(address, options=opts)
    return grpc.aio.secure_channel(address, ssl, options=opts)


class TokenSource:
    """The bearer token of Credentials, for call metadata. Thread-safe. A token file is
    re-read when its inode, size or modification time changes."""

    def __init__(self, credentials: Optional[Credentials] = None):
        credentials = credentials or Credentials()
        self._token = credentials.token.strip()
        self._file = credentials.token_file
        self._lock = threading.Lock()
        self._cached = ""
        self._cached_stat: Optional[tuple] = None

    @property
    def enabled(self) -> bool:
        return bool(self._token or self._file)

    def token(self) -> str:
        """The current token ("" if none is configured). Raises TokenError."""
        if self._token or not self._file:
            return self._token
        try:
            st = os.stat(self._file)
        except OSError as e:
            raise TokenError(f"token_file: cannot read {self._file}: {e.strerror}") from e
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if self._cached and key == self._cached_stat:
                return self._cached
            try:
                with open(self._file, "rb") as f:
                    token = f.read().decode("utf-8", "replace").strip()
            except OSError as e:
                raise TokenError(f"token_file: cannot read {self._file}: {e.strerror}") from e
            if not token:
                raise TokenError(f"token_file: {self._file} is empty")
            # Keyed by what stat said before the read: a racing write shows at the next call.
            self._cached, self._cached_stat = token, key
            return token

    def metadata(self) -> List[Tuple[str, str]]:
        """[("authorization", "Bearer <token>")], or [] without a token. Raises TokenError."""
        token = self.token()
        return [("authorization", f"Bearer {token}")] if token else []
