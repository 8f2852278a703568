#include "image/store.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "base/files.h"
#include "image/docker_archive.h"
#include "image/layer_unpack.h"

namespace clawcage::image {

Result<void> ImageStore::init() const {
  TRY(blobs_.init());
  TRY(make_dirs(root_ + "/rootfs", 0755));
  return ok();
}

std::map<std::string, std::string> ImageStore::refs() const {
  std::map<std::string, std::string> out;
  auto text = read_file(root_ + "/refs.json");
  if (!text) return out;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  return out;
}

Result<void> ImageStore::save_refs(const std::map<std::string, std::string>& refs) const {
  nlohmann::json j(refs);
  std::string tmp = root_ + "/refs.json.tmp." + std::to_string(getpid());
  TRY(create_file(tmp, j.dump(2) + "\n"));
  if (rename(tmp.c_str(), (root_ + "/refs.json").c_str()) != 0) return system_error("rename", tmp);
  return ok();
}

Result<std::vector<ImportedImage>> ImageStore::import_archive(const std::string& archive,
                                                              const std::string& name) {
  TRY(init());
  std::string tmp_root = root_ + "/tmp";
  TRY(make_dirs(tmp_root, 0700));
  std::string tmpl = tmp_root + "/archive.XXXXXX";
  if (!mkdtemp(tmpl.data())) return system_error("mkdtemp", tmpl);
  std::string dir = tmpl;
  auto result = [&]() -> Result<std::vector<ImportedImage>> {
    TRY(unpack_layer(archive, dir).context("unpacking the archive " + archive));
    if (path_exists(dir + "/oci-layout")) return import_layout(dir, name);
    if (path_exists(dir + "/manifest.json")) {
      std::string layout = dir + "/.oci";
      TRY(make_dirs(layout, 0700));
      TRY(docker_archive_to_layout(dir, layout).context("reading the docker-archive " + archive));
      return import_layout(layout, name);
    }
    return make_error("import", archive, "neither an oci-archive nor a docker-archive");
  }();
  remove_tree(dir);
  return result;
}

Result<std::vector<ImportedImage>> ImageStore::import_layout(const std::string& layout_dir,
                                                             const std::string& name) {
  TRY(init());
  BlobStore source(layout_dir);
  TRY_ASSIGN(auto entries, list_manifests(layout_dir));
  if (!name.empty() && entries.size() != 1)
    return make_error("import", layout_dir, "--name needs a layout with exactly one manifest");
  std::vector<ImportedImage> out;
  auto names = refs();
  for (const auto& e : entries) {
    std::string ref_name = name.empty() ? e.ref_name : name;
    // Verified in the source, then copied into the store, where put_file verifies again.
    TRY_ASSIGN(Manifest manifest, read_manifest(source, e.manifest));
    TRY(blobs_.put_file(source.path(manifest.config.digest), manifest.config.digest)
            .context("importing the config"));
    for (const auto& layer : manifest.layers) {
      if (blobs_.has(layer.digest)) continue;
      auto put = blobs_.put_file(source.path(layer.digest), layer.digest);
      if (!put) return std::move(put).error().add_context("importing layer " + layer.digest.str());
    }
    TRY(blobs_.put_file(source.path(e.manifest.digest), e.manifest.digest)
            .context("importing the manifest"));
    if (!ref_name.empty()) names[ref_name] = e.manifest.digest.str();
    out.push_back({ref_name, e.manifest});
  }
  TRY(save_refs(names));
  return out;
}

Result<Digest> check_dir_copy(const std::string& dir) {
  TRY_ASSIGN(UniqueFd mfd, open_file(dir + "/manifest.json", O_RDONLY | O_CLOEXEC));
  TRY_ASSIGN(Digest manifest_digest, sha256_of_fd(mfd.get()));
  TRY_ASSIGN(std::string text, read_file(dir + "/manifest.json"));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return invalid_field(dir + "/manifest.json", "not a JSON object");
  std::vector<std::string> digests;
  if (j.contains("config") && j["config"].is_object() && j["config"].contains("digest"))
    digests.push_back(j["config"]["digest"].is_string() ? j["config"]["digest"].get<std::string>()
                                                        : "");
  if (j.contains("layers") && j["layers"].is_array())
    for (const auto& l : j["layers"])
      digests.push_back(l.is_object() && l.contains("digest") && l["digest"].is_string()
                            ? l["digest"].get<std::string>()
                            : "");
  if (digests.empty()) return invalid_field(dir + "/manifest.json", "lists no config or layers");
  for (const auto& text_digest : digests) {
    TRY_ASSIGN(Digest d, Digest::parse(text_digest, dir + "/manifest.json"));
    TRY_ASSIGN(UniqueFd fd, open_file(dir + "/" + d.hex, O_RDONLY | O_CLOEXEC));
    TRY_ASSIGN(Digest got, sha256_of_fd(fd.get()));
    if (!(got == d))
      return make_error(
          "verify blob", dir + "/" + d.hex,
          "digest mismatch: it hashes to " + got.str() + ", the manifest says " + d.str());
  }
  return manifest_digest;
}

Result<ImportedImage> ImageStore::import_dir(const std::string& dir, const std::string& name) {
  TRY(init());
  if (!path_exists(dir + "/manifest.json"))
    return make_error("import", dir, "no manifest.json: not a skopeo dir: copy");
  auto version = read_file(dir + "/version");
  if (version && trim(*version).rfind("Directory Transport Version: 1.", 0) != 0)
    return make_error("import", dir + "/version", "unsupported dir: version " + trim(*version));
  TRY_ASSIGN(UniqueFd mfd, open_file(dir + "/manifest.json", O_RDONLY | O_CLOEXEC));
  TRY_ASSIGN(Digest manifest_digest, sha256_of_fd(mfd.get()));
  bool had_manifest = blobs_.has(manifest_digest);
  auto imported = [&]() -> Result<ImportedImage> {
    TRY(blobs_.put_file(dir + "/manifest.json", manifest_digest).context("importing the manifest"));
    Descriptor desc{"", manifest_digest, -1};
    TRY_ASSIGN(Manifest manifest, read_manifest(blobs_, desc));
    std::vector<Descriptor> blobs = manifest.layers;
    blobs.insert(blobs.begin(), manifest.config);
    for (const auto& b : blobs) {
      if (blobs_.has(b.digest)) continue;
      auto put = blobs_.put_file(dir + "/" + b.digest.hex, b.digest);
      if (!put) return std::move(put).error().add_context("importing blob " + b.digest.str());
    }
    TRY_ASSIGN(auto signatures, read_signature_files(dir));
    for (size_t i = 0; i < signatures.size(); ++i)
      TRY(add_signature(manifest_digest, signatures[i])
              .context("importing " + dir + "/signature-" + std::to_string(i + 1)));
    return ImportedImage{name, desc};
  }();
  if (!imported) {
    if (!had_manifest) (void)blobs_.remove(manifest_digest);
    return imported;
  }
  if (!name.empty()) {
    auto names = refs();
    names[name] = manifest_digest.str();
    TRY(save_refs(names));
  }
  return imported;
}

Result<std::vector<std::string>> ImageStore::signatures(const Digest& manifest) const {
  return read_signature_files(root_ + "/signatures/" + manifest.hex);
}

Result<std::vector<std::string>> read_signature_files(const std::string& dir) {
  std::vector<std::string> out;
  for (int i = 1; i < 1000; ++i) {
    std::string path = dir + "/signature-" + std::to_string(i);
    if (!path_exists(path)) break;
    TRY_ASSIGN(std::string blob, read_file(path));
    out.push_back(std::move(blob));
  }
  return out;
}

Result<std::string> ImageStore::add_signature(const Digest& manifest,
                                              const std::string& blob) const {
  if (blob.empty()) return make_error("store signature", manifest.str(), "empty signature");
  std::string dir = root_ + "/signatures/" + manifest.hex;
  TRY(make_dirs(dir, 0755));
  TRY_ASSIGN(auto existing, signatures(manifest));
  for (size_t i = 0; i < existing.size(); ++i)
    if (existing[i] == blob) return "signature-" + std::to_string(i + 1);
  std::string name = "signature-" + std::to_string(existing.size() + 1);
  std::string tmp = dir + "/." + name + ".tmp";
  TRY(create_file(tmp, blob, 0644));
  // No replace: two writers racing for one number cannot overwrite each other's signature.
  if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, (dir + "/" + name).c_str(), RENAME_NOREPLACE) !=
      0) {
    Error e = system_error("store signature", dir + "/" + name);
    unlink(tmp.c_str());
    return e;
  }
  return name;
}

Result<Descriptor> ImageStore::resolve(const std::string& reference) const {
  std::string ref = reference;
  if (!ref.empty() && ref.front() == '@') ref = ref.substr(1);
  if (ref.rfind("sha256:", 0) == 0) {
    TRY_ASSIGN(Digest d, Digest::parse(ref, "image"));
    if (!blobs_.has(d)) return make_error("find image", ref, "no such manifest in " + root_);
    return Descriptor{"", d, -1};
  }
  auto names = refs();
  auto it = names.find(ref);
  if (it == names.end())
    return make_error("find image", ref, "not in " + root_ + " (clawcage image import)");
  TRY_ASSIGN(Digest d, Digest::parse(it->second, root_ + "/refs.json"));
  return Descriptor{"", d, -1};
}

Result<Descriptor> ImageStore::resolve_verified(const std::string& reference) const {
  TRY_ASSIGN(Descriptor d, resolve(reference));
  TRY(blobs_.verify(d.digest).context("checking image " + reference));
  return d;
}

Result<void> ImageStore::remove_ref(const std::string& name) {
  auto names = refs();
  if (!names.erase(name)) return make_error("remove image", name, "no such name in " + root_);
  return save_refs(names);
}

Result<size_t> ImageStore::prune() {
  // What the named images need: their manifests, configs and layers.
  std::set<std::string> needed, manifests;
  for (const auto& [name, digest] : refs()) {
    auto d = resolve(name);
    if (!d) continue;
    auto m = read_manifest(blobs_, *d);
    needed.insert(d->digest.hex);
    manifests.insert(d->digest.hex);
    if (!m) continue;  // a manifest that no longer verifies keeps only itself
    needed.insert(m->config.digest.hex);
    for (const auto& l : m->layers) needed.insert(l.digest.hex);
  }
  std::error_code ec_sig;
  size_t removed = 0;
  for (const auto& d : blobs_.list()) {
    if (needed.count(d.hex)) continue;
    TRY(blobs_.remove(d));
    ++removed;
  }
  // Signatures and cached rootfs directories of manifests no name points to.
  for (const auto& entry : std::filesystem::directory_iterator(root_ + "/signatures", ec_sig)) {
    std::string hex = entry.path().filename();
    if (!manifests.count(hex)) std::filesystem::remove_all(entry.path(), ec_sig);
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_ + "/rootfs", ec)) {
    std::string hex = std::string(entry.path().filename()).substr(0, 64);
    if (!manifests.count(hex)) std::filesystem::remove_all(entry.path(), ec);
  }
  return removed;
}

Result<std::string> ImageStore::rootfs(const Descriptor& manifest_desc,
                                       const UnpackPolicy& policy) const {
  std::string dir =
      root_ + "/rootfs/" + manifest_desc.digest.hex + (policy.keep_setuid ? "-setuid" : "");
  TRY_ASSIGN(Manifest manifest, read_manifest(blobs_, manifest_desc));
  if (path_exists(dir)) return dir;
  std::string tmpl = root_ + "/rootfs/.tmp-XXXXXX";
  if (!mkdtemp(tmpl.data())) return system_error("mkdtemp", root_ + "/rootfs");
  chmod(tmpl.c_str(), 0755);
  auto assembled = assemble_rootfs(blobs_, manifest, tmpl, policy);
  std::error_code ec;
  if (!assembled) {
    std::filesystem::remove_all(tmpl, ec);
    return std::move(assembled).error();
  }
  if (rename(tmpl.c_str(), dir.c_str()) != 0) {
    std::filesystem::remove_all(tmpl, ec);  // a concurrent start won the race: use its copy
    if (!path_exists(dir)) return system_error("rename", dir);
  }
  return dir;
}

}  // namespace clawcage::image
