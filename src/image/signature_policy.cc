#include "image/signature_policy.h"

#include <nlohmann/json.hpp>
#include <set>

#include "base/files.h"
#include "base/strict_json.h"
#include "image/gpg.h"
#include "image/signature.h"
#include "image/sigstore.h"

namespace clawcage::image {

namespace {

using json = nlohmann::json;

Result<std::string> string_field(const json& j, const std::string& field, const char* key) {
  if (!j.contains(key) || !j[key].is_string() || j[key].get<std::string>().empty())
    return invalid_field(field + "." + key, "expected a non-empty string");
  return j[key].get<std::string>();
}

std::string resolve_path(const std::string& path, const std::string& base_dir) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return base_dir + "/" + path;
}

Result<IdentityRule> parse_identity(const json& j, const std::string& field) {
  IdentityRule r;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    return invalid_field(field + ".type", "expected a string");
  std::string type = j["type"].get<std::string>();
  using K = IdentityRule::Kind;
  if (type == "matchExact" || type == "matchRepoDigestOrExact" || type == "matchRepository") {
    TRY(only_keys(j, field, {"type"}));
    r.kind = type == "matchExact"               ? K::match_exact
             : type == "matchRepoDigestOrExact" ? K::match_repo_digest_or_exact
                                                : K::match_repository;
  } else if (type == "exactReference") {
    TRY(only_keys(j, field, {"type", "dockerReference"}));
    r.kind = K::exact_reference;
    TRY_ASSIGN(r.reference, string_field(j, field, "dockerReference"));
    TRY_ASSIGN(auto ref, parse_docker_reference(r.reference, field + ".dockerReference", false));
    if (ref.tag.empty() && ref.digest.empty())
      return invalid_field(field + ".dockerReference", "must carry a tag or digest");
  } else if (type == "exactRepository") {
    TRY(only_keys(j, field, {"type", "dockerRepository"}));
    r.kind = K::exact_repository;
    TRY_ASSIGN(r.reference, string_field(j, field, "dockerRepository"));
    TRY(parse_docker_reference(r.reference, field + ".dockerRepository", false));
  } else if (type == "remapIdentity") {
    TRY(only_keys(j, field, {"type", "prefix", "signedPrefix"}));
    r.kind = K::remap_identity;
    TRY_ASSIGN(r.prefix, string_field(j, field, "prefix"));
    TRY_ASSIGN(r.signed_prefix, string_field(j, field, "signedPrefix"));
  } else {
    return invalid_field(field + ".type", "unknown identity rule \"" + type + "\"");
  }
  return r;
}

Result<std::string> read_key_file(const std::string& path, const std::string& field) {
  auto text = read_file(path);
  if (!text) return std::move(text).error().add_context("reading " + field);
  return *text;
}

Result<Requirement> parse_requirement(const json& j, const std::string& field,
                                      const std::string& base_dir) {
  Requirement r;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    return invalid_field(field + ".type", "expected a string");
  std::string type = j["type"].get<std::string>();
  if (type == "insecureAcceptAnything" || type == "reject") {
    TRY(only_keys(j, field, {"type"}));
    r.type =
        type == "reject" ? Requirement::Type::reject : Requirement::Type::insecure_accept_anything;
    return r;
  }
  bool gpg = type == "signedBy";
  if (!gpg && type != "sigstoreSigned")
    return invalid_field(field + ".type", "unknown requirement \"" + type + "\"");
  r.type = gpg ? Requirement::Type::signed_by : Requirement::Type::sigstore_signed;
  if (gpg)
    TRY(only_keys(j, field,
                  {"type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"}));
  else
    TRY(only_keys(j, field, {"type", "keyPath", "keyData", "signedIdentity"}));
  if (gpg) {
    TRY_ASSIGN(std::string key_type, string_field(j, field, "keyType"));
    if (key_type != "GPGKeys")
      return invalid_field(field + ".keyType", "only \"GPGKeys\" is supported");
  }
  int sources = j.contains("keyPath") + j.contains("keyPaths") + j.contains("keyData");
  if (sources != 1)
    return invalid_field(field, gpg ? "exactly one of keyPath, keyPaths, keyData"
                                    : "exactly one of keyPath, keyData");
  std::vector<std::string> keys;
  if (j.contains("keyPath")) {
    TRY_ASSIGN(std::string p, string_field(j, field, "keyPath"));
    p = resolve_path(p, base_dir);
    TRY_ASSIGN(std::string k, read_key_file(p, field + ".keyPath"));
    keys.push_back(k);
    r.key_source = p;
  } else if (j.contains("keyPaths")) {
    const json& list = j["keyPaths"];
    if (!list.is_array() || list.empty())
      return invalid_field(field + ".keyPaths", "expected a non-empty array of paths");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string f = field + ".keyPaths[" + std::to_string(i) + "]";
      if (!list[i].is_string()) return invalid_field(f, "expected a string");
      std::string p = resolve_path(list[i].get<std::string>(), base_dir);
      TRY_ASSIGN(std::string k, read_key_file(p, f));
      keys.push_back(k);
      r.key_source += (r.key_source.empty() ? "" : ",") + p;
    }
  } else {
    TRY_ASSIGN(std::string data, string_field(j, field, "keyData"));
    TRY_ASSIGN(std::string k, base64_decode(data, field + ".keyData"));
    keys.push_back(k);
    r.key_source = "keyData";
  }
  if (gpg) {
    r.gpg_keyrings = keys;
  } else {
    r.public_key_pem = keys[0];
    auto id = sigstore_key_id(r.public_key_pem);
    if (!id) return std::move(id).error().add_context("reading " + field + " key");
  }
  if (j.contains("signedIdentity")) {
    TRY_ASSIGN(r.identity, parse_identity(j["signedIdentity"], field + ".signedIdentity"));
  }
  return r;
}

// Whether the identity a signature claims is acceptable for the image; "" when it is.
std::string identity_mismatch(const IdentityRule& rule, const ImageToCheck& image,
                              const std::string& signed_text) {
  using K = IdentityRule::Kind;
  auto signed_ref = parse_docker_reference(signed_text, "signed identity", false);
  if (!signed_ref) return "the signed identity is invalid: " + signed_ref.error().message();
  const DockerReference& s = *signed_ref;
  auto need_image = [&]() -> std::string {
    return image.identity ? ""
                          : "the " + image.transport +
                                ": transport gives the image no docker identity; use "
                                "exactReference or exactRepository";
  };
  auto repo_digest_or_exact = [&](const DockerReference& want) -> std::string {
    if (!want.tag.empty()) {
      return want.str() == s.str() ? "" : "signed for " + s.str() + ", not " + want.str();
    }
    return want.repository() == s.repository()
               ? ""
               : "signed for repository " + s.repository() + ", not " + want.repository();
  };
  switch (rule.kind) {
    case K::match_exact: {
      if (auto e = need_image(); !e.empty()) return e;
      if (image.identity->tag.empty() && image.identity->digest.empty())
        return "the image name carries no tag or digest";
      return image.identity->str() == s.str()
                 ? ""
                 : "signed for " + s.str() + ", not " + image.identity->str();
    }
    case K::match_repo_digest_or_exact:
      if (auto e = need_image(); !e.empty()) return e;
      return repo_digest_or_exact(*image.identity);
    case K::match_repository:
      if (auto e = need_image(); !e.empty()) return e;
      return image.identity->repository() == s.repository()
                 ? ""
                 : "signed for repository " + s.repository() + ", not " +
                       image.identity->repository();
    case K::exact_reference: {
      auto want = parse_docker_reference(rule.reference, "dockerReference", false);
      if (!want) return want.error().message();
      return want->str() == s.str() ? "" : "signed for " + s.str() + ", not " + want->str();
    }
    case K::exact_repository: {
      auto want = parse_docker_reference(rule.reference, "dockerRepository", false);
      if (!want) return want.error().message();
      return want->repository() == s.repository()
                 ? ""
                 : "signed for repository " + s.repository() + ", not " + want->repository();
    }
    case K::remap_identity: {
      if (auto e = need_image(); !e.empty()) return e;
      std::string full = image.identity->str();
      const std::string& p = rule.prefix;
      bool matches = full.rfind(p, 0) == 0 && (full.size() == p.size() || full[p.size()] == '/' ||
                                               full[p.size()] == ':' || full[p.size()] == '@');
      DockerReference want = *image.identity;
      if (matches) {
        auto remapped =
            parse_docker_reference(rule.signed_prefix + full.substr(p.size()), "remapped", false);
        if (!remapped) return remapped.error().message();
        want = *remapped;
      }
      return repo_digest_or_exact(want);
    }
  }
  return "unknown identity rule";
}

// One signature against one signedBy/sigstoreSigned requirement: the verification, or why not.
Result<Verification> check_signature(const Requirement& req, const ImageToCheck& image,
                                     const std::string& blob) {
  TRY_ASSIGN(SignatureBlob sig, parse_signature_blob(blob));
  Verification v;
  v.key_source = req.key_source;
  std::string payload_text, expected_type;
  if (req.type == Requirement::Type::signed_by) {
    if (sig.format != SignatureFormat::simple_signing)
      return make_error("check signature", "", "a sigstore signature, the policy wants GPG");
    TRY_ASSIGN(GpgVerified g, gpg_verify(sig.openpgp, req.gpg_keyrings));
    v.format = "simple-signing";
    v.key = g.fingerprint;
    payload_text = g.plaintext;
    expected_type = kSimpleSigningType;
  } else {
    if (sig.format != SignatureFormat::sigstore)
      return make_error("check signature", "", "a GPG signature, the policy wants sigstore");
    if (sig.mime_type != kSigstoreMimeType)
      return make_error("check signature", "", "unexpected sigstore MIME type " + sig.mime_type);
    auto a = sig.annotations.find(kSigstoreSignatureAnnotation);
    if (a == sig.annotations.end())
      return make_error("check signature", "",
                        "the sigstore signature has no signature annotation");
    TRY_ASSIGN(std::string der, base64_decode(a->second, kSigstoreSignatureAnnotation));
    TRY_ASSIGN(v.key, sigstore_verify(sig.payload, der, req.public_key_pem));
    v.format = "sigstore";
    payload_text = sig.payload;
    expected_type = kSigstorePayloadType;
  }
  TRY_ASSIGN(SignaturePayload p, parse_signature_payload(payload_text, expected_type));
  if (p.manifest_digest != image.manifest_digest.str())
    return make_error("check signature", "",
                      "signed manifest " + p.manifest_digest + " is not the image's " +
                          image.manifest_digest.str());
  std::string why = identity_mismatch(req.identity, image, p.docker_reference);
  if (!why.empty()) return make_error("check signature", "", "identity mismatch: " + why);
  v.manifest_digest = p.manifest_digest;
  v.signed_identity = p.docker_reference;
  return v;
}

}  // namespace

std::string ImageToCheck::describe() const {
  if (transport == "dir") return "dir:" + path;
  return identity ? identity->str() : manifest_digest.str();
}

Result<Requirements> parse_requirements(const json& list, const std::string& field,
                                        const std::string& base_dir) {
  if (!list.is_array() || list.empty())
    return invalid_field(field, "expected a non-empty array of requirements");
  Requirements out;
  for (size_t i = 0; i < list.size(); ++i) {
    TRY_ASSIGN(Requirement r,
               parse_requirement(list[i], field + "[" + std::to_string(i) + "]", base_dir));
    out.push_back(std::move(r));
  }
  return out;
}

Result<ImageToCheck> store_image_to_check(const ImageStore& store, const std::string& reference,
                                          const Descriptor& manifest, const std::string& field) {
  ImageToCheck check;
  check.manifest_digest = manifest.digest;
  if (!reference.empty() && reference[0] != '@' && reference.rfind("sha256:", 0) != 0) {
    TRY_ASSIGN(check.identity, parse_docker_reference(reference, field));
  }
  TRY_ASSIGN(check.signatures, store.signatures(manifest.digest));
  return check;
}

Result<ImageToCheck> dir_image_to_check(const std::string& path) {
  ImageToCheck check;
  check.transport = "dir";
  check.path = path;
  TRY_ASSIGN(check.manifest_digest, check_dir_copy(path));
  TRY_ASSIGN(check.signatures, read_signature_files(path));
  return check;
}

PolicyDecision evaluate_requirements(const Requirements& requirements, const ImageToCheck& image) {
  PolicyDecision d;
  if (requirements.empty()) {
    d.reason = "no policy requirements apply";
    return d;
  }
  std::vector<std::string> accepted_by;
  for (const auto& req : requirements) {
    switch (req.type) {
      case Requirement::Type::insecure_accept_anything:
        accepted_by.push_back("insecureAcceptAnything");
        continue;
      case Requirement::Type::reject:
        d.reason = "running image " + image.describe() + " is rejected by policy";
        return d;
      default:
        break;
    }
    const char* want =
        req.type == Requirement::Type::signed_by ? "GPG (signedBy)" : "sigstore (sigstoreSigned)";
    if (image.signatures.empty()) {
      d.reason = std::string("a ") + want + " signature is required, but " + image.describe() +
                 " has none";
      return d;
    }
    std::string reasons;
    bool found = false;
    for (size_t i = 0; i < image.signatures.size(); ++i) {
      auto v = check_signature(req, image, image.signatures[i]);
      if (v) {
        d.verified_by.push_back(*v);
        accepted_by.push_back(v->format + " key " + v->key);
        found = true;
        break;
      }
      reasons += (reasons.empty() ? "" : "; ") + std::string("signature-") + std::to_string(i + 1) +
                 ": " + v.error().message();
    }
    if (!found) {
      d.reason = std::string("no ") + want + " signature of " + image.describe() +
                 " is accepted (" + reasons + ")";
      d.verified_by.clear();
      return d;
    }
  }
  d.accepted = true;
  d.reason = "accepted by ";
  for (size_t i = 0; i < accepted_by.size(); ++i) d.reason += (i ? ", " : "") + accepted_by[i];
  return d;
}

Result<SignaturePolicy> SignaturePolicy::load(const std::string& path) {
  TRY_ASSIGN(std::string text, read_file(path));
  return parse(text, path);
}

Result<SignaturePolicy> SignaturePolicy::parse(const std::string& text, const std::string& source) {
  std::string base_dir = base_dir_of(source);
  TRY_ASSIGN(json j, parse_strict_json(text, source));
  TRY(only_keys(j, source, {"default", "transports"}));
  if (!j.contains("default")) return invalid_field(source + ".default", "missing (it is required)");
  SignaturePolicy p;
  TRY_ASSIGN(p.default_, parse_requirements(j["default"], source + ".default", base_dir));
  if (j.contains("transports")) {
    const json& t = j["transports"];
    if (!t.is_object()) return invalid_field(source + ".transports", "expected an object");
    for (auto it = t.begin(); it != t.end(); ++it) {
      std::string tf = source + ".transports." + it.key();
      if (!it.value().is_object()) return invalid_field(tf, "expected an object of scopes");
      auto& scopes = p.transports_[it.key()];
      for (auto s = it.value().begin(); s != it.value().end(); ++s) {
        std::string sf = tf + "[\"" + s.key() + "\"]";
        if (it.key() == "dir" && s.key() == "/")
          return invalid_field(sf, "the scope \"/\" is forbidden; use \"\"");
        TRY_ASSIGN(scopes[s.key()], parse_requirements(s.value(), sf, base_dir));
      }
    }
  }
  return p;
}

PolicyDecision SignaturePolicy::evaluate(const ImageToCheck& image) const {
  auto t = transports_.find(image.transport);
  if (t != transports_.end()) {
    std::vector<std::string> scopes;
    if (image.transport == "docker" && image.identity)
      scopes = docker_policy_scopes(*image.identity);
    else if (image.transport == "dir")
      scopes = dir_policy_scopes(image.path);
    scopes.push_back("");
    for (const auto& scope : scopes) {
      auto s = t->second.find(scope);
      if (s == t->second.end()) continue;
      PolicyDecision d = evaluate_requirements(s->second, image);
      d.scope = image.transport + (scope.empty() ? " (transport default)" : ":" + scope);
      return d;
    }
  }
  PolicyDecision d = evaluate_requirements(default_, image);
  d.scope = "default";
  return d;
}

}  // namespace clawcage::image
