// The OCI image layout (index.json, manifests, configs, layers as blobs) read through a
// verified BlobStore, and a rootfs assembled from a manifest's layers (issue 4 groundwork).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "image/blob_store.h"
#include "image/layer_unpack.h"

namespace clawcage::image {

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
};

struct Manifest {
  Descriptor config;
  std::vector<Descriptor> layers;
};

// The parts of an image config a runtime honours (as podman does).
struct ImageConfig {
  std::vector<std::string> entrypoint, cmd, env;
  std::string working_dir, user;
};

struct IndexEntry {
  std::string ref_name;  // org.opencontainers.image.ref.name, may be empty
  Descriptor manifest;
};
// Every manifest index.json lists.
Result<std::vector<IndexEntry>> list_manifests(const std::string& layout_dir);
// An OCI image layout directory used as a store (its blobs/ is the BlobStore's shape).
// `ref` picks the manifest by org.opencontainers.image.ref.name; empty: the only one.
Result<Descriptor> find_manifest(const std::string& layout_dir, const std::string& ref);
// Reads a blob after re-hashing it, and parses it. Errors name the field.
Result<Manifest> read_manifest(const BlobStore& store, const Descriptor& manifest);
Result<ImageConfig> read_image_config(const BlobStore& store, const Descriptor& config);
// Unpacks every layer in order into `target` (an empty directory), each verified first.
Result<UnpackStats> assemble_rootfs(const BlobStore& store, const Manifest& manifest,
                                    const std::string& target, const UnpackPolicy& policy = {});

}  // namespace clawcage::image
