#include "policy/trust_policy.h"

#include <nlohmann/json.hpp>
#include <set>

#include "base/files.h"
#include "base/strict_json.h"
#include "spec/tiers/tier.h"

namespace clawcage::policy {

namespace {

using json = nlohmann::json;

Result<std::vector<std::string>> string_list(const json& j, const std::string& field,
                                             const std::string& base_dir, bool paths) {
  std::vector<std::string> out;
  if (!j.is_array()) return invalid_field(field, "expected an array of strings");
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string() || j[i].get<std::string>().empty())
      return invalid_field(field + "[" + std::to_string(i) + "]", "expected a non-empty string");
    std::string s = j[i].get<std::string>();
    if (paths && s[0] != '/') s = base_dir + "/" + s;
    out.push_back(s);
  }
  return out;
}

std::string short_key(const std::string& key) {
  return key.size() > 16 ? key.substr(key.size() - 16) : key;
}

}  // namespace

int tier_rank(const std::string& tier) {
  auto t = spec::parse_tier(tier);
  return t ? spec::tier_strength(*t) : -1;
}

Result<TrustPolicy> TrustPolicy::load(const std::string& path) {
  TRY_ASSIGN(std::string text, read_file(path));
  return parse(text, path);
}

Result<TrustPolicy> TrustPolicy::parse(const std::string& text, const std::string& source) {
  std::string base_dir = base_dir_of(source);
  TRY_ASSIGN(json j, parse_strict_json(text, source));
  TRY(only_keys(j, source, {"signaturePolicy", "routes", "otherwise", "volumes", "layers"}));
  TrustPolicy p;
  p.source_ = source;
  if (j.contains("signaturePolicy")) {
    if (!j["signaturePolicy"].is_string())
      return invalid_field(source + ".signaturePolicy", "expected a path");
    std::string sp = j["signaturePolicy"].get<std::string>();
    if (!sp.empty() && sp[0] != '/') sp = base_dir + "/" + sp;
    auto loaded = image::SignaturePolicy::load(sp);
    if (!loaded)
      return std::move(loaded).error().add_context("loading " + source + ".signaturePolicy");
    p.signatures_ = std::move(*loaded);
  }
  if (j.contains("routes")) {
    const json& routes = j["routes"];
    if (!routes.is_array()) return invalid_field(source + ".routes", "expected an array");
    for (size_t i = 0; i < routes.size(); ++i) {
      std::string f = source + ".routes[" + std::to_string(i) + "]";
      const json& r = routes[i];
      TRY(only_keys(r, f, {"name", "tier", "source", "requirements"}));
      TrustRoute route;
      if (!r.contains("name") || !r["name"].is_string() || r["name"].get<std::string>().empty())
        return invalid_field(f + ".name", "expected a non-empty string");
      route.name = r["name"].get<std::string>();
      if (!r.contains("tier") || !r["tier"].is_string() ||
          tier_rank(r["tier"].get<std::string>()) < 0)
        return invalid_field(f + ".tier", "expected chroot, container, strict or gvisor");
      route.tier = r["tier"].get<std::string>();
      if (r.contains("source")) {
        if (!r["source"].is_string()) return invalid_field(f + ".source", "expected a string");
        route.source = r["source"].get<std::string>();
        if (route.source != "image" && route.source != "rootfs" && route.source != "any")
          return invalid_field(f + ".source", "expected image, rootfs or any");
      }
      if (r.contains("requirements")) {
        if (route.source != "image")
          return invalid_field(f + ".requirements", "only routes for images check signatures");
        TRY_ASSIGN(route.requirements,
                   image::parse_requirements(r["requirements"], f + ".requirements", base_dir));
      }
      p.routes_.push_back(std::move(route));
    }
  }
  if (j.contains("otherwise")) {
    if (!j["otherwise"].is_string() ||
        (j["otherwise"] != "reject" && tier_rank(j["otherwise"].get<std::string>()) < 0))
      return invalid_field(source + ".otherwise", "expected reject or a tier name");
    p.otherwise_ = j["otherwise"].get<std::string>();
  }
  if (j.contains("layers")) {
    const json& l = j["layers"];
    TRY(only_keys(l, source + ".layers", {"keepSetuid"}));
    if (l.contains("keepSetuid")) {
      if (!l["keepSetuid"].is_boolean())
        return invalid_field(source + ".layers.keepSetuid", "expected true or false");
      p.unpack_.keep_setuid = l["keepSetuid"].get<bool>();
    }
  }
  if (j.contains("volumes")) {
    const json& v = j["volumes"];
    std::string f = source + ".volumes";
    TRY(only_keys(v, f, {"allow", "block", "readOnlyInputs", "writable"}));
    if (v.contains("allow")) {
      TRY_ASSIGN(p.volumes_.allowlist, string_list(v["allow"], f + ".allow", base_dir, true));
    }
    if (v.contains("block")) {
      TRY_ASSIGN(p.volumes_.blocked, string_list(v["block"], f + ".block", base_dir, false));
    }
    if (v.contains("writable")) {
      TRY_ASSIGN(p.volumes_.writable, string_list(v["writable"], f + ".writable", base_dir, true));
    }
    if (v.contains("readOnlyInputs")) {
      if (!v["readOnlyInputs"].is_boolean())
        return invalid_field(f + ".readOnlyInputs", "expected true or false");
      p.volumes_.read_only_inputs = v["readOnlyInputs"].get<bool>();
    }
  }
  return p;
}

Result<TrustDecision> TrustPolicy::decide(const std::optional<image::ImageToCheck>& image,
                                          const std::optional<std::string>& requested) const {
  TrustDecision d;
  std::string what = image ? "image " + image->describe() : std::string("a task without an image");
  if (image && signatures_) {
    image::PolicyDecision sig = signatures_->evaluate(*image);
    d.signature_scope = sig.scope;
    if (!sig.accepted)
      return make_error("check image signatures", image->describe(),
                        sig.reason + " (signature policy scope " + sig.scope + ")");
    d.verified_by = sig.verified_by;
  }
  std::string because;
  for (const auto& route : routes_) {
    bool kind = route.source == "any" || (route.source == "image") == image.has_value();
    if (!kind) continue;
    if (route.requirements) {
      image::PolicyDecision r = image::evaluate_requirements(*route.requirements, *image);
      if (!r.accepted) continue;
      for (const auto& v : r.verified_by) {
        bool known = false;  // the signature policy may have checked the same signature
        for (const auto& have : d.verified_by)
          known |= have.key == v.key && have.format == v.format &&
                   have.signed_identity == v.signed_identity;
        if (!known) d.verified_by.push_back(v);
        because += (because.empty() ? "" : " and ") + std::string("signed by ") + route.name +
                   " key " + short_key(v.key) + " (" + v.format + ")";
      }
      if (because.empty()) because = "accepted by route " + route.name;
    } else {
      because = route.source == "rootfs" ? "it runs no image" : "route " + route.name + " matches";
    }
    d.route = route.name;
    d.tier = route.tier;
    break;
  }
  if (d.route.empty()) {
    if (otherwise_ == "reject")
      return make_error("apply trust policy", source_,
                        "no route admits " + what + " and the policy rejects the rest");
    d.tier = otherwise_;
    because = "no route matched (otherwise)";
  }
  std::string policy_tier = d.tier;
  if (requested) {
    if (tier_rank(*requested) < 0)
      return invalid_field("isolate", "unknown tier \"" + *requested + "\"");
    if (tier_rank(*requested) < tier_rank(policy_tier))
      return invalid_field("isolate", "tier " + *requested + " is weaker than " + policy_tier +
                                          ", which the trust policy gives " + what + " because " +
                                          because);
    d.tier = *requested;
  }
  d.explanation = "tier " + d.tier + " because " + because;
  if (d.tier != policy_tier) d.explanation += "; asked for " + d.tier + " over " + policy_tier;
  if (!d.route.empty()) d.explanation += " (route " + d.route + ")";
  return d;
}

}  // namespace clawcage::policy
