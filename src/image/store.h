// clawcage's image store: blobs (verified, content-addressed), names, and unpacked rootfs
// directories cached by manifest digest. Layout:
//   <root>/blobs/sha256/<hex>   <root>/refs.json   <root>/rootfs/<manifest hex>/
//   <root>/signatures/<manifest hex>/signature-N   (containers/image's blob formats)
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "image/blob_store.h"
#include "image/oci_layout.h"

namespace clawcage::image {

inline constexpr const char* kDefaultStore = "/var/lib/clawcage/store";

// The signature-1, signature-2, ... files of a directory, in order (none: an empty list), as
// a skopeo dir: copy and the store keep them.
Result<std::vector<std::string>> read_signature_files(const std::string& dir);

// A `skopeo copy ... dir:PATH` directory checked in place: manifest.json parsed and every
// blob it lists re-hashed against its digest. Returns the manifest's digest.
Result<Digest> check_dir_copy(const std::string& dir);

struct ImportedImage {
  std::string name;
  Descriptor manifest;
};

class ImageStore {
 public:
  explicit ImageStore(std::string root) : root_(std::move(root)), blobs_(root_) {}
  Result<void> init() const;
  const BlobStore& blobs() const { return blobs_; }

  // Imports the manifests of an OCI layout directory (each blob verified against its
  // digest on the way in). `name` overrides the layout's ref name (one manifest only).
  Result<std::vector<ImportedImage>> import_layout(const std::string& layout_dir,
                                                   const std::string& name);
  // Imports an archive: an `oci-archive` (a tar of an OCI layout, as `podman save --format
  // oci-archive` and `skopeo copy oci-archive:` write). The tar is unpacked with the layer
  // unpacker's rules into a scratch dir of the store, then imported as a layout. A
  // `docker save` / `podman save` archive (docker-archive) is converted to a layout first.
  Result<std::vector<ImportedImage>> import_archive(const std::string& archive,
                                                    const std::string& name);
  // Imports a `skopeo copy ... dir:PATH` directory: manifest.json, blobs named by their hex
  // digest (each verified), and its signature-1, signature-2, ... files, kept with the
  // manifest digest so they are checked at every task start. `name` is required (a dir:
  // copy carries no name) unless empty names are wanted (use by digest).
  Result<ImportedImage> import_dir(const std::string& dir, const std::string& name);
  // The stored signature blobs of a manifest, in order (none: an empty list).
  Result<std::vector<std::string>> signatures(const Digest& manifest) const;
  // Stores one more signature blob for a manifest (an identical one is not stored twice);
  // returns its file name ("signature-2").
  Result<std::string> add_signature(const Digest& manifest, const std::string& blob) const;
  // "name:tag" from refs.json, or "@sha256:<hex>" / "sha256:<hex>" of a stored manifest.
  Result<Descriptor> resolve(const std::string& reference) const;
  // resolve, then the manifest blob re-hashed: what a task start checks before anything else.
  Result<Descriptor> resolve_verified(const std::string& reference) const;
  std::map<std::string, std::string> refs() const;  // name → manifest digest
  // Forgets a name (its blobs stay until prune).
  Result<void> remove_ref(const std::string& name);
  // Removes every blob and cached rootfs no named image needs; returns how many blobs went.
  Result<size_t> prune();
  // The unpacked rootfs of a manifest, assembled once (into a temp dir renamed into place):
  // rootfs/<hex>, or rootfs/<hex>-setuid when the policy keeps setuid/setgid bits.
  Result<std::string> rootfs(const Descriptor& manifest, const UnpackPolicy& policy = {}) const;

 private:
  Result<void> save_refs(const std::map<std::string, std::string>& refs) const;
  std::string root_;
  BlobStore blobs_;
};

}  // namespace clawcage::image
