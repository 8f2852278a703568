#include "image/signature.h"

#include <cstring>
#include <nlohmann/json.hpp>

namespace clawcage::image {

std::string make_signature_payload(const std::string& type, const std::string& manifest_digest,
                                   const std::string& docker_reference) {
  nlohmann::json j = {{"critical",
                       {{"type", type},
                        {"image", {{"docker-manifest-digest", manifest_digest}}},
                        {"identity", {{"docker-reference", docker_reference}}}}},
                      {"optional", {{"creator", "clawcage"}}}};
  return j.dump();
}

Result<SignaturePayload> parse_signature_payload(const std::string& json,
                                                 const std::string& expected_type) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  auto bad = [](const std::string& field, const std::string& why) {
    return invalid_field("signature payload " + field, why);
  };
  if (!j.is_object()) return bad("", "not a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "critical" && it.key() != "optional")
      return bad(it.key(), "unknown top-level field");
  if (!j.contains("critical") || !j["critical"].is_object())
    return bad("critical", "missing or not an object");
  const auto& c = j["critical"];
  if (c.size() != 3 || !c.contains("type") || !c.contains("image") || !c.contains("identity"))
    return bad("critical", "must hold exactly type, image and identity");
  if (!c["type"].is_string()) return bad("critical.type", "not a string");
  SignaturePayload p;
  p.type = c["type"].get<std::string>();
  if (p.type != expected_type)
    return bad("critical.type", "\"" + p.type + "\", expected \"" + expected_type + "\"");
  const auto& img = c["image"];
  if (!img.is_object() || img.size() != 1 || !img.contains("docker-manifest-digest") ||
      !img["docker-manifest-digest"].is_string())
    return bad("critical.image", "must hold exactly a docker-manifest-digest string");
  p.manifest_digest = img["docker-manifest-digest"].get<std::string>();
  const auto& id = c["identity"];
  if (!id.is_object() || id.size() != 1 || !id.contains("docker-reference") ||
      !id["docker-reference"].is_string())
    return bad("critical.identity", "must hold exactly a docker-reference string");
  p.docker_reference = id["docker-reference"].get<std::string>();
  if (j.contains("optional") && !j["optional"].is_object()) return bad("optional", "not an object");
  return p;
}

const char* signature_format_name(SignatureFormat f) {
  return f == SignatureFormat::sigstore ? "sigstore" : "simple-signing";
}

Result<SignatureBlob> parse_signature_blob(const std::string& blob) {
  SignatureBlob s;
  if (blob.empty()) return make_error("read signature", "", "empty signature");
  if (blob[0] != '\0') {  // the legacy form: a bare OpenPGP message
    s.openpgp = blob;
    return s;
  }
  size_t nl = blob.find('\n');
  if (nl == std::string::npos) return make_error("read signature", "", "no format line");
  std::string format = blob.substr(1, nl - 1), body = blob.substr(nl + 1);
  if (format == "simple-signing") {
    s.openpgp = body;
    return s;
  }
  if (format != "sigstore-json")
    return make_error("read signature", "", "unsupported signature format \"" + format + "\"");
  s.format = SignatureFormat::sigstore;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("mimeType") || !j["mimeType"].is_string() ||
      !j.contains("payload") || !j["payload"].is_string())
    return invalid_field("sigstore signature",
                         "expected {\"mimeType\",\"payload\",\"annotations\"}");
  s.mime_type = j["mimeType"].get<std::string>();
  TRY_ASSIGN(s.payload, base64_decode(j["payload"].get<std::string>(), "sigstore payload"));
  if (j.contains("annotations")) {
    if (!j["annotations"].is_object())
      return invalid_field("sigstore annotations", "not an object");
    for (auto it = j["annotations"].begin(); it != j["annotations"].end(); ++it) {
      if (!it.value().is_string())
        return invalid_field("sigstore annotations." + it.key(), "not a string");
      s.annotations[it.key()] = it.value().get<std::string>();
    }
  }
  return s;
}

std::string serialize_signature_blob(const SignatureBlob& sig) {
  if (sig.format == SignatureFormat::simple_signing) return sig.openpgp;
  nlohmann::json j = {{"mimeType", sig.mime_type},
                      {"payload", base64_encode(sig.payload)},
                      {"annotations", sig.annotations}};
  return std::string("\0sigstore-json\n", 15) + j.dump();
}

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto b = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (b(i) << 16) | (b(i + 1) << 8) | b(i + 2);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    unsigned v = b(i) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    unsigned v = (b(i) << 16) | (b(i + 1) << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(const std::string& text, const std::string& field) {
  std::string out;
  unsigned v = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : text) {
    if (c == '\n' || c == '\r') continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    const char* p = c ? strchr(kAlphabet, c) : nullptr;
    if (!p || pad) return invalid_field(field, "not valid base64");
    v = (v << 6) | static_cast<unsigned>(p - kAlphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((v >> bits) & 0xff);
    }
  }
  if (pad > 2 || bits >= 6) return invalid_field(field, "not valid base64");
  return out;
}

}  // namespace clawcage::image
