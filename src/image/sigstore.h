// The key-based sigstore (cosign) signature check: an ECDSA (P-256 and up) or RSA
// signature, SHA-256, ASN.1 DER, over the payload bytes, with keys as PEM through OpenSSL.
// Debian's skopeo and podman are built without sigstore, so interoperability with them is
// not testable here; the format follows containers/image and cosign.
#pragma once

#include <string>

#include "base/result.h"

namespace clawcage::image {

// Verifies `signature_der` over `payload` with the PEM public key; returns the key's id
// (the first 16 hex digits of the SHA-256 of its DER SubjectPublicKeyInfo).
Result<std::string> sigstore_verify(const std::string& payload, const std::string& signature_der,
                                    const std::string& public_key_pem);
// Signs with an unencrypted PEM private key (PKCS#8 or SEC1, as `openssl genpkey` writes).
Result<std::string> sigstore_sign(const std::string& payload, const std::string& private_key_pem);
// The id of a PEM public key, as sigstore_verify returns it.
Result<std::string> sigstore_key_id(const std::string& public_key_pem);

}  // namespace clawcage::image
