"""nnparts.client.trust: signed packages, trust policies and offline bundles. Torch-free.

``model-signing`` (and through it sigstore) is imported only when a signature is made or checked.
"""

from __future__ import annotations

from nnparts.client.trust.bundle import BundleReport, export_bundle, import_bundle
from nnparts.client.trust.keys import TrustedKey, fingerprint, load_public_key, public_key_of
from nnparts.client.trust.policy import TRUST_FILE, TrustPolicy, TrustRule, load_policy
from nnparts.client.trust.sign import sign_package
from nnparts.client.trust.verify import verify_signature

__all__ = [
    "TRUST_FILE",
    "BundleReport",
    "TrustPolicy",
    "TrustRule",
    "TrustedKey",
    "export_bundle",
    "fingerprint",
    "import_bundle",
    "load_policy",
    "load_public_key",
    "public_key_of",
    "sign_package",
    "verify_signature",
]
