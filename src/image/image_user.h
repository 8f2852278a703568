// An image config's `User` resolved the way podman resolves it (containers/storage's
// chrootuser): "name" or "uid", optionally ":group" or ":gid", looked up in the image's own
// /etc/passwd and /etc/group, read inside the rootfs (its symlinks resolve in it, never on
// the host). A numeric uid missing from passwd runs with gid 0; a name that is missing is
// an error. Supplementary groups are the /etc/group entries that list the user.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace clawcage::image {

struct ImageUser {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;
};

Result<ImageUser> resolve_image_user(const std::string& rootfs, const std::string& user);

}  // namespace clawcage::image
