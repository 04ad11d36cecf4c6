"""Stand-in secrets for a tenant that does not exist (or has no secret for a platform).

An unknown tenant runs the very same signature check as a known one, against a secret nobody
holds, so it fails with the same status and the same words as a wrong signature: a caller without
credentials cannot tell which tenant slugs exist (issue 15).
"""
from __future__ import annotations

import functools
import secrets


@functools.cache
def decoy_hmac_secret() -> str:
    return secrets.token_urlsafe(32)


@functools.cache
def decoy_public_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()
