// clawcage image sign | verify: the operator's side of image signatures.
#include <fcntl.h>
#include <sys/stat.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "cli/commands.h"
#include "image/gpg.h"
#include "image/signature.h"
#include "image/signature_policy.h"
#include "image/sigstore.h"
#include "image/store.h"
#include "policy/trust_policy.h"

namespace clawcage::cli {

namespace {

struct Target {
  bool dir = false;
  std::string path;  // dir: the directory
  image::ImageToCheck check;
};

// "dir:/path" (a skopeo dir: copy) or an image of the store.
Result<Target> load_target(const std::string& ref, const std::string& store_root) {
  Target t;
  if (ref.rfind("dir:", 0) == 0) {
    t.dir = true;
    char* real = realpath(ref.substr(4).c_str(), nullptr);
    if (!real) return system_error("resolve", ref.substr(4));
    t.path = real;
    free(real);
    TRY_ASSIGN(t.check, image::dir_image_to_check(t.path));
    return t;
  }
  image::ImageStore store(store_root);
  TRY_ASSIGN(image::Descriptor d, store.resolve_verified(ref));
  TRY_ASSIGN(t.check, image::store_image_to_check(store, ref, d, "image"));
  return t;
}

nlohmann::json verifications_json(const std::vector<image::Verification>& vs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : vs)
    out.push_back({{"format", v.format},
                   {"key", v.key},
                   {"digest", v.manifest_digest},
                   {"identity", v.signed_identity},
                   {"keySource", v.key_source}});
  return out;
}

}  // namespace

void add_image_trust_commands(CLI::App* img, int& exit_code) {
  struct SignFlags {
    std::string image, store = image::kDefaultStore, identity, sign_by, gnupg_home, sigstore_key;
  };
  auto s = std::make_shared<SignFlags>();
  CLI::App* sign = img->add_subcommand(
      "sign", "sign an image's manifest digest (GPG simple signing or a sigstore key)");
  sign->add_option("image", s->image, "name:tag or @sha256:... in the store, or dir:PATH")
      ->required();
  sign->add_option("--identity", s->identity,
                   "the docker reference the signature claims (default: the image's name)");
  sign->add_option("--sign-by", s->sign_by, "GPG key fingerprint (simple signing)");
  sign->add_option("--gnupg-home", s->gnupg_home, "GnuPG home (default $GNUPGHOME or ~/.gnupg)");
  sign->add_option("--sigstore-key", s->sigstore_key, "PEM private key (sigstore format)");
  sign->add_option("--store", s->store, "image store directory");
  sign->callback([s, &exit_code] {
    auto fail = [&](const Error& e) {
      std::cerr << "clawcage image sign: " << e.message() << "\n";
      exit_code = 1;
    };
    if (s->sign_by.empty() == s->sigstore_key.empty())
      return fail(invalid_field("--sign-by/--sigstore-key", "give exactly one"));
    auto t = load_target(s->image, s->store);
    if (!t) return fail(t.error());
    std::string identity = s->identity;
    if (identity.empty()) {
      if (!t->check.identity)
        return fail(invalid_field("--identity", "required: " + s->image + " carries no name"));
      identity = t->check.identity->str();
    }
    auto ref = image::parse_docker_reference(identity, "--identity", false);
    if (!ref) return fail(ref.error());
    image::SignatureBlob blob;
    std::string digest = t->check.manifest_digest.str();
    if (!s->sign_by.empty()) {
      std::string payload =
          image::make_signature_payload(image::kSimpleSigningType, digest, ref->str());
      auto signed_msg = image::gpg_sign(payload, s->sign_by, s->gnupg_home);
      if (!signed_msg) return fail(signed_msg.error());
      blob.openpgp = *signed_msg;
    } else {
      auto key = read_file(s->sigstore_key);
      if (!key) return fail(key.error());
      blob.format = image::SignatureFormat::sigstore;
      blob.mime_type = image::kSigstoreMimeType;
      blob.payload = image::make_signature_payload(image::kSigstorePayloadType, digest, ref->str());
      auto der = image::sigstore_sign(blob.payload, *key);
      if (!der) return fail(der.error());
      blob.annotations[image::kSigstoreSignatureAnnotation] = image::base64_encode(*der);
    }
    std::string bytes = image::serialize_signature_blob(blob);
    std::string where;
    if (t->dir) {
      int i = 1;
      while (path_exists(t->path + "/signature-" + std::to_string(i))) ++i;
      where = t->path + "/signature-" + std::to_string(i);
      auto w = create_file(where, bytes, 0644);
      if (!w) return fail(w.error());
    } else {
      auto name = image::ImageStore(s->store).add_signature(t->check.manifest_digest, bytes);
      if (!name) return fail(name.error());
      where = *name;
    }
    std::cout << where << "\t" << digest << "\t" << ref->str() << "\n";
    exit_code = 0;
  });

  struct VerifyFlags {
    std::string image, store = image::kDefaultStore, policy, trust, isolate;
  };
  auto v = std::make_shared<VerifyFlags>();
  CLI::App* verify = img->add_subcommand(
      "verify", "check an image against a containers-policy.json or a trust policy");
  verify->add_option("image", v->image, "name:tag or @sha256:... in the store, or dir:PATH")
      ->required();
  verify->add_option("--policy", v->policy, "containers-policy.json");
  verify->add_option("--trust-policy", v->trust, "clawcage trust policy (also shows the tier)");
  verify->add_option("--isolate", v->isolate, "with --trust-policy: the tier a task would ask");
  verify->add_option("--store", v->store, "image store directory");
  verify->callback([v, &exit_code] {
    auto fail = [&](const Error& e) {
      std::cerr << "clawcage image verify: " << e.message() << "\n";
      exit_code = 2;
    };
    if (v->policy.empty() == v->trust.empty())
      return fail(invalid_field("--policy/--trust-policy", "give exactly one"));
    // A bad policy is an error (2); an image that is missing, tampered or not accepted is a
    // refusal (1), explained on stdout.
    std::optional<image::SignaturePolicy> signatures;
    std::optional<policy::TrustPolicy> trust;
    if (!v->policy.empty()) {
      auto p = image::SignaturePolicy::load(v->policy);
      if (!p) return fail(p.error());
      signatures = std::move(*p);
    } else {
      auto p = policy::TrustPolicy::load(v->trust);
      if (!p) return fail(p.error());
      trust = std::move(*p);
    }
    nlohmann::json out = {{"image", v->image}};
    auto t = load_target(v->image, v->store);
    if (!t) {
      out["accepted"] = false;
      out["reason"] = t.error().message();
      exit_code = 1;
    } else if (signatures) {
      out["digest"] = t->check.manifest_digest.str();
      image::PolicyDecision d = signatures->evaluate(t->check);
      out["accepted"] = d.accepted;
      out["reason"] = d.reason;
      out["scope"] = d.scope;
      out["verified_by"] = verifications_json(d.verified_by);
      exit_code = d.accepted ? 0 : 1;
    } else {
      out["digest"] = t->check.manifest_digest.str();
      std::optional<std::string> requested;
      if (!v->isolate.empty()) requested = v->isolate;
      auto d = trust->decide(t->check, requested);
      out["accepted"] = d.ok();
      if (d) {
        out["tier"] = d->tier;
        out["reason"] = d->explanation;
        out["verified_by"] = verifications_json(d->verified_by);
      } else {
        out["reason"] = d.error().message();
      }
      exit_code = d ? 0 : 1;
    }
    std::cout << out.dump(2) << "\n";
  });
}

}  // namespace clawcage::cli
