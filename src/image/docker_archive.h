// `docker save` / `podman save` archives (docker-archive): manifest.json, a config JSON and
// one tar per layer. Converted into an OCI image layout, which the store then imports
// (every blob hashed on the way; the config's diff_ids must match the layers).
#pragma once

#include <string>

#include "base/result.h"

namespace clawcage::image {

// `extracted` is the unpacked archive; `layout` an empty directory that becomes an OCI
// layout holding its one image, named by its first RepoTag (if any).
Result<void> docker_archive_to_layout(const std::string& extracted, const std::string& layout);

}  // namespace clawcage::image
