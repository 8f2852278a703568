#include "image/oci_layout.h"

#include <nlohmann/json.hpp>

#include "base/files.h"

namespace clawcage::image {

namespace {

using nlohmann::json;

constexpr const char* kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kDockerManifestType = "application/vnd.docker.distribution.manifest.v2+json";

Result<json> parse_blob_json(const BlobStore& store, const Descriptor& d, const std::string& what) {
  TRY(store.verify(d.digest).context("reading " + what));
  TRY_ASSIGN(std::string text, read_file(store.path(d.digest)));
  if (d.size >= 0 && static_cast<int64_t>(text.size()) != d.size)
    return make_error("read " + what, d.digest.str(),
                      "size " + std::to_string(text.size()) + " differs from the descriptor's " +
                          std::to_string(d.size));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error("parse " + what, d.digest.str(), "malformed JSON");
  return j;
}

Result<Descriptor> parse_descriptor(const json& j, const std::string& field) {
  if (!j.is_object()) return invalid_field(field, "expected object");
  Descriptor d;
  if (!j.contains("digest") || !j["digest"].is_string())
    return invalid_field(field + ".digest", "required string");
  TRY_ASSIGN(d.digest, Digest::parse(j["digest"].get<std::string>(), field + ".digest"));
  if (j.contains("mediaType") && j["mediaType"].is_string())
    d.media_type = j["mediaType"].get<std::string>();
  if (j.contains("size")) {
    if (!j["size"].is_number_integer() || j["size"].get<int64_t>() < 0)
      return invalid_field(field + ".size", "expected a non-negative integer");
    d.size = j["size"].get<int64_t>();
  }
  return d;
}

Result<std::vector<std::string>> strings(const json& j, const std::string& field) {
  std::vector<std::string> out;
  if (j.is_null()) return out;
  if (!j.is_array()) return invalid_field(field, "expected array of strings");
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string())
      return invalid_field(field + "[" + std::to_string(i) + "]", "expected string");
    out.push_back(j[i].get<std::string>());
  }
  return out;
}

bool layer_type_ok(const std::string& t) {
  return t.empty() || t == "application/vnd.oci.image.layer.v1.tar" ||
         t == "application/vnd.oci.image.layer.v1.tar+gzip" ||
         t == "application/vnd.oci.image.layer.v1.tar+zstd" ||
         t == "application/vnd.docker.image.rootfs.diff.tar.gzip";
}

}  // namespace

Result<std::vector<IndexEntry>> list_manifests(const std::string& layout_dir) {
  std::string index_path = layout_dir + "/index.json";
  TRY_ASSIGN(std::string text, read_file(index_path));
  json index = json::parse(text, nullptr, false);
  if (index.is_discarded() || !index.is_object() || !index.contains("manifests") ||
      !index["manifests"].is_array())
    return make_error("parse", index_path, "expected an OCI index with a manifests array");
  std::vector<IndexEntry> out;
  for (size_t i = 0; i < index["manifests"].size(); ++i) {
    const json& m = index["manifests"][i];
    IndexEntry e;
    TRY_ASSIGN(e.manifest, parse_descriptor(m, "index.manifests[" + std::to_string(i) + "]"));
    if (m.contains("annotations") && m["annotations"].is_object() &&
        m["annotations"].contains("org.opencontainers.image.ref.name") &&
        m["annotations"]["org.opencontainers.image.ref.name"].is_string())
      e.ref_name = m["annotations"]["org.opencontainers.image.ref.name"].get<std::string>();
    out.push_back(std::move(e));
  }
  return out;
}

Result<Descriptor> find_manifest(const std::string& layout_dir, const std::string& ref) {
  TRY_ASSIGN(auto entries, list_manifests(layout_dir));
  std::vector<Descriptor> matches;
  for (const auto& e : entries)
    if (ref.empty() || e.ref_name == ref) matches.push_back(e.manifest);
  if (matches.empty())
    return make_error("find image", layout_dir, "no manifest named \"" + ref + "\" in index.json");
  if (matches.size() > 1)
    return make_error("find image", layout_dir, "several manifests match; name one");
  return matches.front();
}

Result<Manifest> read_manifest(const BlobStore& store, const Descriptor& d) {
  if (!d.media_type.empty() && d.media_type != kManifestType && d.media_type != kDockerManifestType)
    return make_error("read manifest", d.digest.str(), "unsupported media type " + d.media_type);
  TRY_ASSIGN(json j, parse_blob_json(store, d, "manifest"));
  Manifest m;
  if (!j.contains("config")) return invalid_field("manifest.config", "required");
  TRY_ASSIGN(m.config, parse_descriptor(j["config"], "manifest.config"));
  if (!j.contains("layers") || !j["layers"].is_array())
    return invalid_field("manifest.layers", "required array");
  for (size_t i = 0; i < j["layers"].size(); ++i) {
    std::string field = "manifest.layers[" + std::to_string(i) + "]";
    TRY_ASSIGN(Descriptor layer, parse_descriptor(j["layers"][i], field));
    if (!layer_type_ok(layer.media_type))
      return invalid_field(field + ".mediaType", "unsupported layer type " + layer.media_type);
    m.layers.push_back(layer);
  }
  return m;
}

Result<ImageConfig> read_image_config(const BlobStore& store, const Descriptor& d) {
  TRY_ASSIGN(json j, parse_blob_json(store, d, "image config"));
  ImageConfig c;
  if (!j.contains("config") || j["config"].is_null()) return c;
  const json& cfg = j["config"];
  if (!cfg.is_object()) return invalid_field("config.config", "expected object");
  if (cfg.contains("Entrypoint")) {
    TRY_ASSIGN(c.entrypoint, strings(cfg["Entrypoint"], "config.Entrypoint"));
  }
  if (cfg.contains("Cmd")) {
    TRY_ASSIGN(c.cmd, strings(cfg["Cmd"], "config.Cmd"));
  }
  if (cfg.contains("Env")) {
    TRY_ASSIGN(c.env, strings(cfg["Env"], "config.Env"));
  }
  if (cfg.contains("WorkingDir") && cfg["WorkingDir"].is_string())
    c.working_dir = cfg["WorkingDir"].get<std::string>();
  if (cfg.contains("User") && cfg["User"].is_string()) c.user = cfg["User"].get<std::string>();
  return c;
}

Result<UnpackStats> assemble_rootfs(const BlobStore& store, const Manifest& manifest,
                                    const std::string& target, const UnpackPolicy& policy) {
  UnpackStats total;
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    const Descriptor& layer = manifest.layers[i];
    std::string what = "layer " + std::to_string(i) + " (" + layer.digest.str() + ")";
    // Hashed again right before use: a cached blob that changed since import is refused.
    TRY(store.verify(layer.digest).context("unpacking " + what));
    TRY_ASSIGN(UnpackStats s,
               unpack_layer(store.path(layer.digest), target, policy).context("unpacking " + what));
    total.entries += s.entries;
    total.files += s.files;
    total.directories += s.directories;
    total.symlinks += s.symlinks;
    total.hardlinks += s.hardlinks;
    total.whiteouts += s.whiteouts;
    total.bytes += s.bytes;
    total.setuid_stripped += s.setuid_stripped;
    total.devices_skipped += s.devices_skipped;
  }
  return total;
}

}  // namespace clawcage::image
