"""Red team, the till's side: a rogue backend on the store network (one DNS answer away),
and a POS developer who turns TLS off or uses plain http to make an error go away.

A till trusts its backend's answers: the sealing key it seals every face to, every
approval, every refusal. Those answers are only the backend's if the connection is, so
the client refuses plain http and unverified TLS to any host but this machine unless the
integrator says, in ``ClientConfig.allow_insecure_transport``, that this is a demo; and
over verified TLS a backend whose certificate the till does not trust gets no request at
all (the rogue server below counts what reached it).
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import facepay
import facepay.testing as kit
from facepay.client import AsyncFacePayClient, FacePayClient
from facepay.config import ClientConfig
from facepay.errors import ConfigurationError, ServerError, TransportError

ATTACKER_KEYS = (
    b'{"current_key_id":"k-rogue","keys":[{"key_id":"k-rogue",'
    b'"suite":"x25519-hkdf-sha256-chacha20poly1305",'
    b'"public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","status":"current"}],'
    b'"receipt_key_id":"r-rogue","receipt_public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'
)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no CA signed (the rogue backend's), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pay.store.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "rogue.pem", folder / "rogue.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class RogueBackend:
    """A TLS server on 127.0.0.1 that answers every request with the attacker's key set
    and keeps every request it was able to read."""

    def __init__(self, cert: Path, key: Path) -> None:
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            try:
                with self._tls.wrap_socket(raw, server_side=True) as conn:
                    conn.settimeout(5)
                    data = conn.recv(65_536)
                    if data:
                        self.requests.append(data)
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            b"Connection: close\r\nContent-Length: "
                            + str(len(ATTACKER_KEYS)).encode()
                            + b"\r\n\r\n"
                            + ATTACKER_KEYS
                        )
            except (ssl.SSLError, OSError):
                raw.close()  # the till refused our certificate: nothing was read

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()


@pytest.fixture
def rogue(tmp_path: Path) -> Iterator[tuple[RogueBackend, Path]]:
    cert, key = self_signed(tmp_path)
    server = RogueBackend(cert, key)
    try:
        yield server, cert
    finally:
        server.close()


def test_plain_http_or_unverified_tls_to_another_host_is_refused_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device_key = facepay.DeviceKey.generate()
    for url, config in (
        ("http://pay.store.lan", ClientConfig()),
        ("http://10.0.0.7:8470", ClientConfig()),
        ("https://pay.example.com", ClientConfig(verify_tls=False)),
        ("http://0.0.0.0:8470", ClientConfig()),
    ):
        with pytest.raises(ConfigurationError, match="allow_insecure_transport"):
            FacePayClient(url, config=config)
        with pytest.raises(ConfigurationError):
            AsyncFacePayClient(url, config=config)
        with pytest.raises(ConfigurationError):
            facepay.Till.connect(
                url,
                device_key=device_key,
                device_id="lane-1",
                client_config=config,
                **kit.SyntheticFaces().till_parts(),
            )
    # The variable a developer sets to make a certificate error go away: refused too.
    monkeypatch.setenv("FACEPAY_CLIENT_VERIFY_TLS", "0")
    with pytest.raises(ConfigurationError):
        FacePayClient("https://pay.example.com", config=ClientConfig.from_env())

    # This machine, verified TLS, a demo that says so, and a test's own transport: allowed
    # (another host only with the backend's answer key pinned: docs/protocol.md, "Signed
    # answers").
    pin = "ab" * 32
    for url, config in (
        ("http://127.0.0.1:8470", ClientConfig()),
        ("http://localhost:8470", ClientConfig()),
        ("http://[::1]:8470", ClientConfig()),
        ("https://pay.example.com", ClientConfig(answer_key_pin=pin)),
        ("http://pay.store.lan", ClientConfig(allow_insecure_transport=True, answer_key_pin=pin)),
    ):
        FacePayClient(url, config=config).close()


def test_a_rogue_backend_whose_certificate_the_till_does_not_trust_gets_no_request(
    rogue: tuple[RogueBackend, Path],
) -> None:
    server, cert = rogue
    faces = kit.SyntheticFaces()
    url = f"https://127.0.0.1:{server.port}"
    with facepay.Till.connect(
        url,
        device_key=facepay.DeviceKey.generate(),
        device_id="lane-1",
        client_config=ClientConfig(max_attempts=2, backoff_initial_s=0.0),
        **faces.till_parts(),
    ) as till:
        line = facepay.BasketLine(sku="1", description="Tea", quantity=1, unit_price_minor=432)
        sale = facepay.Basket(reference="SALE-ROGUE-1", currency="EUR", lines=(line,))
        with pytest.raises(TransportError) as err:
            till.pay(sale, faces.camera("rogue", kit.face(1)))
        assert err.value.code == "connect_failed"
        assert till.unanswered == ()
        with pytest.raises(TransportError):
            till.client.get_keys()
    assert server.requests == []

    # (control) A till told to trust that certificate does reach it: the server above
    # would have seen any request that got through. Its key set, not signed by the
    # backend's answer key, is still not believed (docs/protocol.md, "Signed answers").
    with FacePayClient(url, config=ClientConfig(ca_bundle=str(cert), max_attempts=1)) as client:
        with pytest.raises(ServerError) as refused:
            client.get_keys()
        assert refused.value.code == "answer_mismatch"
    assert len(server.requests) == 1
    assert server.requests[0].startswith(b"GET /v1/keys ")
