"""Channel credentials and call metadata shared by the sync and the asyncio client."""

from __future__ import annotations

from typing import Optional, Tuple

import grpc

# A call with no deadline can hang forever on a black-holed connection; callers may pass their own.
DEFAULT_TIMEOUT_SECONDS = 10.0


def metadata(token: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


def credentials(
    tls: bool,
    root_certificates: Optional[bytes],
    private_key: Optional[bytes],
    certificate_chain: Optional[bytes],
) -> Optional[grpc.ChannelCredentials]:
    """TLS credentials (system roots unless ``root_certificates``; mutual TLS with a key and chain), or
    None for plaintext. Any certificate material implies TLS."""
    if not (tls or root_certificates or private_key or certificate_chain):
        return None
    return grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
