// The trust policy: one operator file that says which tier a task gets from what is known
// about it (which key signed its image), which images may run at all (a
// containers-policy.json signature policy), and which host paths may be mounted.
//
//   {
//     "signaturePolicy": "policy.json",          // containers-policy.json; every image
//     "routes": [                                 // first match wins
//       {"name": "internal", "tier": "container",
//        "requirements": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "internal.gpg",
//                          "signedIdentity": {"type": "matchRepository"}}]},
//       {"name": "plugins", "tier": "gvisor",
//        "requirements": [{"type": "sigstoreSigned", "keyPath": "plugins.pub"}]},
//       {"name": "local", "tier": "strict", "source": "rootfs"}
//     ],
//     "otherwise": "reject",                      // or a tier name
//     "volumes": {"allow": ["/srv/agents"], "block": [".ssh", ".env*"],
//                 "readOnlyInputs": true, "writable": ["/srv/agents/out"]},
//     "layers": {"keepSetuid": false}             // setuid/setgid bits stripped (default)
//   }
//
// A task may ask for a stronger tier than its route gives, never a weaker one. Relative
// paths are taken from the file's directory. See the README's "Trust policy" section.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "image/layer_unpack.h"
#include "image/signature_policy.h"
#include "policy/volume_rules.h"

namespace clawcage::policy {

inline constexpr const char* kDefaultTrustPolicy = "/etc/clawcage/trust.json";

// spec::tier_strength of a tier name (chroot < container < strict < gvisor); -1 if unknown.
int tier_rank(const std::string& tier);

struct TrustRoute {
  std::string name, tier;
  std::string source = "image";  // "image" | "rootfs" (built-in image, --rootfs) | "any"
  std::optional<image::Requirements> requirements;
};

// What the policy decided for one task, kept in its record and the audit log.
struct TrustDecision {
  std::string tier;         // the tier the task runs in
  std::string explanation;  // "tier gvisor because signed by plugins key 1a2b… (route plugins)"
  std::string route;
  std::vector<image::Verification> verified_by;
  std::string signature_scope;  // the containers-policy.json scope that applied
};

class TrustPolicy {
 public:
  static Result<TrustPolicy> load(const std::string& path);
  static Result<TrustPolicy> parse(const std::string& text, const std::string& source);
  const std::string& source() const { return source_; }
  const VolumeRules& volume_rules() const { return volumes_; }
  // How image layers are unpacked (layers.keepSetuid; default: setuid/setgid stripped).
  const image::UnpackPolicy& unpack_policy() const { return unpack_; }
  // `image`: the image a task will mount (nullopt: built-in image or --rootfs);
  // `requested`: the tier the task asked for, if it asked. Refusals name the rule.
  Result<TrustDecision> decide(const std::optional<image::ImageToCheck>& image,
                               const std::optional<std::string>& requested) const;

 private:
  std::string source_;
  std::optional<image::SignaturePolicy> signatures_;
  std::vector<TrustRoute> routes_;
  std::string otherwise_ = "reject";
  VolumeRules volumes_;
  image::UnpackPolicy unpack_;
};

}  // namespace clawcage::policy
