// containers-policy.json (containers-policy.json(5)), the signature policy podman and skopeo
// use: requirements per transport and scope, the most specific scope wins, every
// requirement of the list must hold. Parsed strictly, as containers/image does: an unknown,
// duplicated or malformed field refuses the whole file. Keys are read at load time.
//
// Transports clawcage evaluates: "docker" for images in its store (the scope and the
// identity are the image's name, fully expanded: docker.io/library/x:tag), and "dir" for a
// `skopeo copy ... dir:PATH` directory (scopes are paths; dir: images have no docker
// identity, so only exactReference and exactRepository can match their signatures).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"
#include "image/blob_store.h"
#include "image/reference.h"
#include "image/store.h"

namespace clawcage::image {

struct IdentityRule {
  enum class Kind {
    match_exact,
    match_repo_digest_or_exact,
    match_repository,
    exact_reference,
    exact_repository,
    remap_identity
  };
  Kind kind = Kind::match_repo_digest_or_exact;
  std::string reference;              // exactReference / exactRepository
  std::string prefix, signed_prefix;  // remapIdentity
};

struct Requirement {
  enum class Type { insecure_accept_anything, reject, signed_by, sigstore_signed };
  Type type = Type::reject;
  std::vector<std::string> gpg_keyrings;  // signedBy
  std::string public_key_pem;             // sigstoreSigned
  std::string key_source;                 // where the keys came from, for messages
  IdentityRule identity;
};
using Requirements = std::vector<Requirement>;

// `field` names the list in errors; relative key paths are taken from `base_dir`.
Result<Requirements> parse_requirements(const nlohmann::json& list, const std::string& field,
                                        const std::string& base_dir);

struct ImageToCheck {
  std::string transport = "docker";
  std::optional<DockerReference> identity;  // docker transport: the image's name
  std::string path;                         // dir transport: the directory
  Digest manifest_digest;                   // of the manifest that will be used
  std::vector<std::string> signatures;      // stored signature blobs
  std::string describe() const;             // "docker.io/library/x:1" or "dir:/path"
};

// A store image as the docker transport sees it: `manifest` (resolved from `reference`), the
// identity its name gives (none for a digest reference; `field` names it in errors), and its
// stored signatures.
Result<ImageToCheck> store_image_to_check(const ImageStore& store, const std::string& reference,
                                          const Descriptor& manifest, const std::string& field);
// A skopeo dir: copy as the dir transport sees it: every blob re-hashed, its signatures.
Result<ImageToCheck> dir_image_to_check(const std::string& path);

// Which key verified which digest for which claimed identity.
struct Verification {
  std::string format;  // "simple-signing" | "sigstore"
  std::string key;     // GPG fingerprint, or the sigstore key id
  std::string manifest_digest;
  std::string signed_identity;
  std::string key_source;
};

struct PolicyDecision {
  bool accepted = false;
  std::string reason;  // why it was refused, or what accepted it
  std::string scope;   // the policy scope that applied ("default", "docker:docker.io/x")
  std::vector<Verification> verified_by;
};

PolicyDecision evaluate_requirements(const Requirements& requirements, const ImageToCheck& image);

class SignaturePolicy {
 public:
  static Result<SignaturePolicy> load(const std::string& path);
  // `source` names the file in errors and gives the base for relative key paths.
  static Result<SignaturePolicy> parse(const std::string& text, const std::string& source);
  PolicyDecision evaluate(const ImageToCheck& image) const;

 private:
  Requirements default_;
  std::map<std::string, std::map<std::string, Requirements>> transports_;
};

}  // namespace clawcage::image
