// Container image signatures in the two formats containers/image (skopeo, podman) stores:
//  * simple signing: an OpenPGP signed message whose content is the JSON payload
//    {"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":D},
//     "identity":{"docker-reference":R}},"optional":{...}} (containers-signature(5));
//  * sigstore (cosign's key-based format): the payload's type is "cosign container image
//    signature", signed with ECDSA P-256 (SHA-256, ASN.1 DER, base64) and stored as
//    "\0sigstore-json\n" + {"mimeType","payload"(base64),"annotations"}.
// A signature file in a `dir:` copy ("signature-1", …) holds one blob of either format.
#pragma once

#include <map>
#include <string>

#include "base/result.h"

namespace clawcage::image {

inline constexpr const char* kSimpleSigningType = "atomic container signature";
inline constexpr const char* kSigstorePayloadType = "cosign container image signature";
inline constexpr const char* kSigstoreMimeType = "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr const char* kSigstoreSignatureAnnotation = "dev.cosignproject.cosign/signature";

// The claims of a payload (both formats share the JSON shape; only the type differs).
struct SignaturePayload {
  std::string type;
  std::string manifest_digest;   // "sha256:<hex>"
  std::string docker_reference;  // as written by the signer, not normalised
};

std::string make_signature_payload(const std::string& type, const std::string& manifest_digest,
                                   const std::string& docker_reference);
// Strict: the critical section must hold exactly type, image, identity with string fields,
// and the type must be `expected_type`. The payload is untrusted until its signature checks.
Result<SignaturePayload> parse_signature_payload(const std::string& json,
                                                 const std::string& expected_type);

enum class SignatureFormat { simple_signing, sigstore };
const char* signature_format_name(SignatureFormat f);

struct SignatureBlob {
  SignatureFormat format = SignatureFormat::simple_signing;
  std::string openpgp;  // simple signing: the OpenPGP message
  // sigstore:
  std::string mime_type, payload;
  std::map<std::string, std::string> annotations;
};

// Reads a stored blob (the legacy bare OpenPGP form or the "\0<format>\n" prefixed one).
Result<SignatureBlob> parse_signature_blob(const std::string& blob);
std::string serialize_signature_blob(const SignatureBlob& sig);

std::string base64_encode(const std::string& bytes);
Result<std::string> base64_decode(const std::string& text, const std::string& field);

}  // namespace clawcage::image
