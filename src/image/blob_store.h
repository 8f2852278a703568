// A content-addressed blob store in the OCI image layout's shape: <root>/blobs/sha256/<hex>.
// Every blob is hashed on the way in and refused unless its digest matches; a stored blob
// can be re-hashed at use time, so a tampered cache is caught (issue 4 groundwork).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace clawcage::image {

struct Digest {
  std::string algorithm;  // "sha256"
  std::string hex;        // 64 lowercase hex digits
  std::string str() const { return algorithm + ":" + hex; }
  bool operator==(const Digest&) const = default;
  // "sha256:<64 hex>"; errors name `field`.
  static Result<Digest> parse(const std::string& text, const std::string& field = "digest");
};

Result<Digest> sha256_of_fd(int fd);

class BlobStore {
 public:
  explicit BlobStore(std::string root) : root_(std::move(root)) {}
  Result<void> init() const;
  const std::string& root() const { return root_; }
  std::string path(const Digest& d) const;
  bool has(const Digest& d) const;
  // Copies the file in, hashing as it goes. With `expected`, a different digest is refused
  // and nothing is stored. Storing a blob that is already there is a no-op.
  Result<Digest> put_file(const std::string& source, const std::optional<Digest>& expected,
                          uint64_t max_bytes = 64ull << 30) const;
  // Re-hashes a stored blob: the digest must still match its name.
  Result<void> verify(const Digest& d) const;
  Result<void> remove(const Digest& d) const;
  std::vector<Digest> list() const;

 private:
  std::string root_;
};

}  // namespace clawcage::image
