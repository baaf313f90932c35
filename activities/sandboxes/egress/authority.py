"""The per-session certificate authority that lets the proxy terminate a sandbox's TLS to a credential's hosts.

Made only for sandboxes whose session has ``environment_variable`` credentials. Its private key lives in the worker's
memory and nowhere else (the leaf keys are loaded into ``ssl`` through a memfd, never a file on disk); its certificate
goes into that one sandbox's trust bundle, so no other sandbox, and nothing on the host, trusts it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=90)
BACKDATE = datetime.timedelta(hours=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dma"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


class SessionAuthority:
    """A CA for one session's sandbox, and the TLS server contexts it signs, one per host."""

    def __init__(self, session_id: str) -> None:
        now = datetime.datetime.now(datetime.UTC)
        self._not_before, self._not_after = now - BACKDATE, now + VALIDITY
        self._key = ec.generate_private_key(ec.SECP256R1())
        # One leaf key for every host of the session: the CA is what makes each certificate trustworthy.
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._name = _name(f"dma sandbox egress CA {session_id}"[:64])
        public = self._key.public_key()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self._contexts: dict[str, ssl.SSLContext] = {}

    @property
    def certificate_pem(self) -> bytes:
        """The CA certificate (public), for the sandbox's trust bundle."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def server_context(self, host: str) -> ssl.SSLContext:
        """A TLS server context presenting a certificate for ``host`` (a name or an IP literal), cached per host."""
        context = self._contexts.get(host)
        if context is None:
            context = self._contexts[host] = self._make_context(host)
        return context

    def _leaf(self, host: str) -> x509.Certificate:
        try:
            alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        ca_public = self._key.public_key()
        return (
            x509.CertificateBuilder()
            .subject_name(_name(host[:64]))
            .issuer_name(self._name)
            .public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_after)
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def _make_context(self, host: str) -> ssl.SSLContext:
        chain = self._leaf(host).public_bytes(serialization.Encoding.PEM) + self.certificate_pem
        key = self._leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # HTTP/1.1 only: the proxy reads the requests it substitutes in, one by one.
        context.set_alpn_protocols(["http/1.1"])
        memfd = os.memfd_create("dma-egress-leaf", os.MFD_CLOEXEC)
        try:
            os.write(memfd, chain + key)
            path = f"/proc/self/fd/{memfd}"
            context.load_cert_chain(path, path)
        finally:
            os.close(memfd)
        return context


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
