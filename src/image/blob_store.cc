#include "image/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "base/files.h"
#include "base/hash.h"
#include "base/unique_fd.h"

namespace clawcage::image {

namespace {

// Hashes everything read from `in`, copying it to `out` when out >= 0.
Result<Digest> hash_stream(int in, int out, uint64_t max_bytes, const std::string& what) {
  sha256_ctx ctx;
  sha256_init(&ctx);
  uint64_t total = 0;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return system_error("read", what);
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    if (total > max_bytes)
      return make_error("store blob", what, "larger than " + std::to_string(max_bytes) + " bytes");
    sha256_update(&ctx, static_cast<size_t>(n), reinterpret_cast<const uint8_t*>(buf));
    for (ssize_t done = 0; out >= 0 && done < n;) {
      ssize_t w = ::write(out, buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return system_error("write", what);
      done += w;
    }
  }
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_digest(&ctx, sizeof digest, digest);
  return Digest{"sha256", to_hex(digest, sizeof digest)};
}

}  // namespace

Result<Digest> Digest::parse(const std::string& text, const std::string& field) {
  size_t colon = text.find(':');
  if (colon == std::string::npos)
    return invalid_field(field, "expected sha256:<hex>, got \"" + text + "\"");
  Digest d{text.substr(0, colon), text.substr(colon + 1)};
  if (d.algorithm != "sha256")
    return invalid_field(field,
                         "unsupported digest algorithm \"" + d.algorithm + "\" (sha256 only)");
  if (d.hex.size() != 64 || d.hex.find_first_not_of("0123456789abcdef") != std::string::npos)
    return invalid_field(field, "expected 64 lowercase hex digits after sha256:");
  return d;
}

Result<Digest> sha256_of_fd(int fd) {
  return hash_stream(fd, -1, UINT64_MAX, "fd " + std::to_string(fd));
}

Result<void> BlobStore::init() const {
  TRY(make_dirs(root_ + "/blobs/sha256", 0755));
  TRY(make_dirs(root_ + "/tmp", 0700));
  return ok();
}

std::string BlobStore::path(const Digest& d) const {
  return root_ + "/blobs/" + d.algorithm + "/" + d.hex;
}

bool BlobStore::has(const Digest& d) const {
  return path_exists(path(d));
}

Result<Digest> BlobStore::put_file(const std::string& source, const std::optional<Digest>& expected,
                                   uint64_t max_bytes) const {
  TRY_ASSIGN(UniqueFd in, open_file(source, O_RDONLY));
  // Written under tmp/ and renamed into place only once the digest is known and right:
  // a reader never sees a partial or unverified blob.
  std::string tmp = root_ + "/tmp/blob-XXXXXX";
  int raw = mkostemp(tmp.data(), O_CLOEXEC);
  if (raw < 0) return system_error("create", root_ + "/tmp");
  UniqueFd out(raw);
  auto digest = hash_stream(in.get(), out.get(), max_bytes, source);
  if (digest && expected && !(*digest == *expected)) {
    unlink(tmp.c_str());
    return make_error("store blob", source,
                      "digest mismatch: expected " + expected->str() + ", got " + digest->str());
  }
  if (!digest) {
    unlink(tmp.c_str());
    return std::move(digest).error();
  }
  if (fsync(out.get()) != 0 || fchmod(out.get(), 0444) != 0) {
    Error e = system_error("sync", tmp);
    unlink(tmp.c_str());
    return e;
  }
  if (rename(tmp.c_str(), path(*digest).c_str()) != 0) {
    Error e = system_error("rename", path(*digest));
    unlink(tmp.c_str());
    return e;
  }
  return digest;
}

Result<void> BlobStore::verify(const Digest& d) const {
  TRY_ASSIGN(UniqueFd in, open_file(path(d), O_RDONLY));
  TRY_ASSIGN(Digest actual, hash_stream(in.get(), -1, UINT64_MAX, path(d)));
  if (!(actual == d))
    return make_error("verify blob", path(d), "content changed: it now hashes to " + actual.str());
  return ok();
}

Result<void> BlobStore::remove(const Digest& d) const {
  if (unlink(path(d).c_str()) != 0 && errno != ENOENT) return system_error("unlink", path(d));
  return ok();
}

std::vector<Digest> BlobStore::list() const {
  std::vector<Digest> out;
  DIR* dir = opendir((root_ + "/blobs/sha256").c_str());
  if (!dir) return out;
  while (dirent* e = readdir(dir)) {
    auto d = Digest::parse(std::string("sha256:") + e->d_name);
    if (d) out.push_back(*d);
  }
  closedir(dir);
  return out;
}

}  // namespace clawcage::image
