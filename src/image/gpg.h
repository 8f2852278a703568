// OpenPGP for simple signing, through GPGME (the library skopeo and podman use). Checks run
// in an ephemeral GnuPG home that holds only the policy's keys and is removed afterwards, so
// the caller's keyrings never widen what a policy trusts.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace clawcage::image {

struct GpgVerified {
  std::string fingerprint;  // of the key that made the signature
  std::string plaintext;    // the signed content (untrusted until the caller checks it)
};

// Verifies an OpenPGP signed message made by one of the keys in `keyrings` (each a binary
// or armored keyring, as containers-policy.json's keyPath/keyPaths/keyData hold).
Result<GpgVerified> gpg_verify(const std::string& message,
                               const std::vector<std::string>& keyrings);
// Signs `payload` (an OpenPGP signed message, not detached) with the secret key
// `fingerprint` from `gnupg_home` (empty: $GNUPGHOME or ~/.gnupg).
Result<std::string> gpg_sign(const std::string& payload, const std::string& fingerprint,
                             const std::string& gnupg_home);

}  // namespace clawcage::image
