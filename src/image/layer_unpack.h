// Unpacks one OCI layer (a tar, compressed or not) into a directory without ever writing
// outside it: entries with ".." or absolute names are refused, parents are resolved inside
// the target (openat2 RESOLVE_IN_ROOT, so an image symlink pointing out is followed inside),
// files are created without following a final symlink, hard links resolve inside the
// target, device nodes are skipped and setuid/setgid bits stripped unless the policy keeps
// them. OCI whiteouts (".wh.NAME", ".wh..wh..opq") delete what lower layers put there.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace clawcage::image {

struct UnpackPolicy {
  bool keep_setuid = false;          // default: setuid/setgid bits are stripped
  bool allow_devices = false;        // default: device nodes are skipped (counted)
  uint64_t max_bytes = 64ull << 30;  // file data in the layer; past it the layer is refused
  uint64_t max_entries = 1000000;
};

struct UnpackStats {
  uint64_t entries = 0, files = 0, directories = 0, symlinks = 0, hardlinks = 0;
  uint64_t whiteouts = 0, bytes = 0, setuid_stripped = 0, devices_skipped = 0;
};

// `layer` is a path to the tar (any compression libarchive reads); `target` an existing
// directory. On error the target may hold part of the layer: callers unpack into a fresh
// directory and remove it on failure.
Result<UnpackStats> unpack_layer(const std::string& layer, const std::string& target,
                                 const UnpackPolicy& policy = {});

}  // namespace clawcage::image
