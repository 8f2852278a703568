#include "image/docker_archive.h"

#include <fcntl.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>

#include "base/files.h"
#include "image/blob_store.h"

namespace clawcage::image {

namespace {

using nlohmann::json;

// A member of the archive named by manifest.json: a relative path that stays inside it.
Result<std::string> member(const std::string& extracted, const json& v, const std::string& field) {
  if (!v.is_string()) return invalid_field(field, "expected a path");
  std::string rel = v.get<std::string>();
  if (rel.empty() || rel[0] == '/' || rel.find("..") != std::string::npos)
    return invalid_field(field, "\"" + rel + "\" leaves the archive");
  std::string path = extracted + "/" + rel;
  if (!path_exists(path)) return invalid_field(field, rel + " is not in the archive");
  // Archives link layer.tar to the layer file: a link is followed, but only within the
  // archive (a link to a host file would import it as a layer).
  char* real = realpath(path.c_str(), nullptr);
  char* root = realpath(extracted.c_str(), nullptr);
  std::string r = real ? real : "", base = root ? root : "";
  free(real);
  free(root);
  if (r.empty() || base.empty() || r.compare(0, base.size() + 1, base + "/") != 0)
    return invalid_field(field, rel + " leads out of the archive");
  return r;
}

Result<uint64_t> size_of(const std::string& path) {
  TRY_ASSIGN(UniqueFd fd, open_file(path, O_RDONLY | O_CLOEXEC));
  off_t end = lseek(fd.get(), 0, SEEK_END);
  if (end < 0) return system_error("lseek", path);
  return static_cast<uint64_t>(end);
}

bool gzip(const std::string& path) {
  auto fd = open_file(path, O_RDONLY | O_CLOEXEC);
  unsigned char magic[2] = {0, 0};
  return fd && ::read(fd->get(), magic, 2) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

}  // namespace

Result<void> docker_archive_to_layout(const std::string& extracted, const std::string& layout) {
  TRY_ASSIGN(std::string text, read_file(extracted + "/manifest.json"));
  json manifest;
  try {
    manifest = json::parse(text);
  } catch (const json::exception& e) {
    return make_error("parse", "manifest.json", e.what());
  }
  if (!manifest.is_array() || manifest.size() != 1)
    return invalid_field("manifest.json", "expected exactly one image");
  const json& entry = manifest[0];
  if (!entry.is_object() || !entry.contains("Config") || !entry.contains("Layers") ||
      !entry["Layers"].is_array())
    return invalid_field("manifest.json[0]", "expected Config and Layers");
  BlobStore blobs(layout);
  TRY(blobs.init());
  TRY_ASSIGN(std::string config_path,
             member(extracted, entry["Config"], "manifest.json[0].Config"));
  TRY_ASSIGN(Digest config_digest, blobs.put_file(config_path, std::nullopt));
  TRY_ASSIGN(uint64_t config_size, size_of(config_path));
  TRY_ASSIGN(std::string config_text, read_file(config_path));
  json config = json::parse(config_text, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    return invalid_field("Config", "not a JSON object");
  json diff_ids =
      config.contains("rootfs") ? config["rootfs"].value("diff_ids", json::array()) : json::array();
  json layers = json::array();
  for (size_t i = 0; i < entry["Layers"].size(); ++i) {
    std::string field = "manifest.json[0].Layers[" + std::to_string(i) + "]";
    TRY_ASSIGN(std::string path, member(extracted, entry["Layers"][i], field));
    bool compressed = gzip(path);
    TRY_ASSIGN(Digest d, blobs.put_file(path, std::nullopt));
    TRY_ASSIGN(uint64_t size, size_of(path));
    // An uncompressed layer's digest is its diff_id: the config must say the same.
    if (!compressed && (i >= diff_ids.size() || diff_ids[i] != d.str()))
      return invalid_field(
          field, "its content (" + d.str() + ") does not match the config's rootfs.diff_ids");
    layers.push_back({{"mediaType", compressed ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                               : "application/vnd.oci.image.layer.v1.tar"},
                      {"digest", d.str()},
                      {"size", size}});
  }
  json oci = {{"schemaVersion", 2},
              {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
              {"config",
               {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                {"digest", config_digest.str()},
                {"size", config_size}}},
              {"layers", layers}};
  std::string manifest_tmp = layout + "/manifest.tmp";
  TRY(create_file(manifest_tmp, oci.dump()));
  TRY_ASSIGN(Digest manifest_digest, blobs.put_file(manifest_tmp, std::nullopt));
  TRY_ASSIGN(uint64_t manifest_size, size_of(manifest_tmp));
  ::unlink(manifest_tmp.c_str());
  json desc = {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
               {"digest", manifest_digest.str()},
               {"size", manifest_size}};
  if (entry.contains("RepoTags") && entry["RepoTags"].is_array() && !entry["RepoTags"].empty() &&
      entry["RepoTags"][0].is_string())
    desc["annotations"] = {{"org.opencontainers.image.ref.name", entry["RepoTags"][0]}};
  TRY(create_file(layout + "/index.json",
                  json{{"schemaVersion", 2}, {"manifests", json::array({desc})}}.dump()));
  TRY(create_file(layout + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  return ok();
}

}  // namespace clawcage::image
