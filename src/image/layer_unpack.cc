#include "image/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "base/unique_fd.h"

namespace clawcage::image {

namespace {

constexpr uint64_t kInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
constexpr const char* kWhiteout = ".wh.";
constexpr const char* kOpaque = ".wh..wh..opq";

struct ArchiveCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};

// libarchive may have no message to give (NULL).
std::string archive_message(archive* a) {
  const char* m = archive_error_string(a);
  return m ? m : "malformed archive";
}

int open_in_root(int rootfd, const std::string& rel, int flags) {
  open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = kInRoot;
  return static_cast<int>(
      syscall(SYS_openat2, rootfd, rel.empty() ? "." : rel.c_str(), &how, sizeof how));
}

// "./a/b/" → "a/b"; empty for the layer's root entry. Refuses absolute names and "..".
Result<std::string> clean_name(const std::string& raw, const std::string& layer) {
  std::string name = raw;
  if (!name.empty() && name.front() == '/')
    return make_error("unpack", layer, "entry \"" + raw + "\" has an absolute path");
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t slash = name.find('/', pos);
    std::string part =
        name.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? name.size() + 1 : slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..")
      return make_error("unpack", layer, "entry \"" + raw + "\" climbs out with \"..\"");
    parts.push_back(part);
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

std::pair<std::string, std::string> split(const std::string& rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

// The directory `rel` inside the root, created (component by component, each resolved
// inside the root) if missing.
Result<UniqueFd> ensure_dir(int rootfd, const std::string& rel) {
  int fd = open_in_root(rootfd, rel, O_PATH | O_DIRECTORY);
  if (fd >= 0) return UniqueFd(fd);
  if (errno != ENOENT) return system_error("open", rel);
  std::string so_far;
  size_t pos = 0;
  while (pos <= rel.size()) {
    size_t slash = rel.find('/', pos);
    std::string part =
        rel.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? rel.size() + 1 : slash + 1;
    std::string next = so_far.empty() ? part : so_far + "/" + part;
    int existing = open_in_root(rootfd, next, O_PATH | O_DIRECTORY);
    if (existing >= 0) {
      close(existing);
    } else {
      UniqueFd parent(open_in_root(rootfd, so_far, O_PATH | O_DIRECTORY));
      if (!parent) return system_error("open", so_far.empty() ? "." : so_far);
      if (mkdirat(parent.get(), part.c_str(), 0755) != 0 && errno != EEXIST)
        return system_error("mkdir", next);
    }
    so_far = next;
  }
  fd = open_in_root(rootfd, rel, O_PATH | O_DIRECTORY);
  if (fd < 0) return system_error("open", rel);
  return UniqueFd(fd);
}

// The entries of an open directory, "." and ".." left out.
Result<std::vector<std::string>> list_dir(int fd, const std::string& what) {
  DIR* d = fdopendir(dup(fd));
  if (!d) return system_error("opendir", what);
  std::vector<std::string> out;
  while (dirent* e = readdir(d))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) out.push_back(e->d_name);
  closedir(d);
  return out;
}

// Removes `name` in `dirfd` and everything below it, never following a symlink.
Result<void> remove_tree_at(int dirfd, const std::string& name, int depth = 0) {
  if (depth > 256) return make_error("remove", name, "nested too deep");
  if (unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return ok();
  if (errno != EISDIR && errno != EPERM) return system_error("unlink", name);
  UniqueFd sub(openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!sub) return system_error("open", name);
  TRY_ASSIGN(auto children, list_dir(sub.get(), name));
  for (const auto& c : children) TRY(remove_tree_at(sub.get(), c, depth + 1));
  if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return system_error("rmdir", name);
  return ok();
}

// Makes room for a new non-directory entry: whatever is there (a symlink above all) goes.
Result<void> clear_for(int parent, const std::string& base, bool keep_dir) {
  struct stat st;
  if (fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ok();
  if (S_ISDIR(st.st_mode) && keep_dir) return ok();
  return remove_tree_at(parent, base);
}

class Unpacker {
 public:
  Unpacker(std::string layer, int rootfd, const UnpackPolicy& policy)
      : layer_(std::move(layer)), rootfd_(rootfd), policy_(policy) {}

  Result<void> entry(archive* a, archive_entry* e) {
    if (++stats_.entries > policy_.max_entries)
      return make_error("unpack", layer_,
                        "more than " + std::to_string(policy_.max_entries) + " entries");
    const char* raw = archive_entry_pathname(e);
    TRY_ASSIGN(std::string rel, clean_name(raw ? raw : "", layer_));
    if (rel.empty()) return ok();  // the layer's own root
    auto [dir, base] = split(rel);
    TRY_ASSIGN(UniqueFd parent, ensure_dir(rootfd_, dir));
    if (base == kOpaque) return opaque(dir, parent.get());
    if (base.rfind(kWhiteout, 0) == 0) {
      ++stats_.whiteouts;
      return remove_tree_at(parent.get(), base.substr(strlen(kWhiteout)));
    }
    created_.insert(rel);
    mode_t mode = archive_entry_perm(e);
    if ((mode & (S_ISUID | S_ISGID)) && !policy_.keep_setuid) {
      mode &= ~static_cast<mode_t>(S_ISUID | S_ISGID);
      ++stats_.setuid_stripped;
    }
    const char* hardlink = archive_entry_hardlink(e);
    if (hardlink) return link(rel, parent.get(), base, hardlink);
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR: {
        TRY(clear_for(parent.get(), base, true));
        if (mkdirat(parent.get(), base.c_str(), 0700) != 0 && errno != EEXIST)
          return system_error("mkdir", rel);
        ++stats_.directories;
        break;
      }
      case AE_IFREG: {
        TRY(clear_for(parent.get(), base, false));
        // O_NOFOLLOW|O_EXCL: never through a symlink, never into something that appeared.
        UniqueFd out(openat(parent.get(), base.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!out) return system_error("create", rel);
        TRY(copy_data(a, out.get(), rel));
        ++stats_.files;
        break;
      }
      case AE_IFLNK: {
        TRY(clear_for(parent.get(), base, false));
        const char* target = archive_entry_symlink(e);
        // The target is stored as given: it is resolved inside the sandbox's root later,
        // and by RESOLVE_IN_ROOT here.
        if (symlinkat(target ? target : "", parent.get(), base.c_str()) != 0)
          return system_error("symlink", rel);
        ++stats_.symlinks;
        return finish(parent.get(), base, e, mode, /*symlink=*/true);
      }
      case AE_IFIFO: {
        TRY(clear_for(parent.get(), base, false));
        if (mkfifoat(parent.get(), base.c_str(), 0600) != 0) return system_error("mkfifo", rel);
        break;
      }
      case AE_IFCHR:
      case AE_IFBLK: {
        if (!policy_.allow_devices) {
          ++stats_.devices_skipped;
          created_.erase(rel);
          return ok();
        }
        TRY(clear_for(parent.get(), base, false));
        mode_t type = archive_entry_filetype(e) == AE_IFCHR ? S_IFCHR : S_IFBLK;
        if (mknodat(parent.get(), base.c_str(), type | 0600,
                    makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e))) != 0)
          return system_error("mknod", rel);
        break;
      }
      default:
        return make_error("unpack", layer_, "entry \"" + rel + "\" has an unsupported type");
    }
    return finish(parent.get(), base, e, mode, false);
  }

  const UnpackStats& stats() const { return stats_; }

 private:
  Result<void> copy_data(archive* a, int fd, const std::string& rel) {
    const void* buf;
    size_t size;
    la_int64_t offset;
    for (;;) {
      int r = archive_read_data_block(a, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) return ok();
      if (r != ARCHIVE_OK) return make_error("read layer", layer_ + ": " + rel, archive_message(a));
      stats_.bytes += size;
      if (stats_.bytes > policy_.max_bytes)
        return make_error("unpack", layer_,
                          "more than " + std::to_string(policy_.max_bytes) + " bytes");
      const char* p = static_cast<const char*>(buf);
      size_t done = 0;
      while (done < size) {
        ssize_t n = pwrite(fd, p + done, size - done, offset + static_cast<la_int64_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return system_error("write", rel);
        done += static_cast<size_t>(n);
      }
    }
  }

  // Hard links resolve inside the root: an absolute or escaping target cannot reach a host
  // file, and ".." is refused by clean_name.
  Result<void> link(const std::string& rel, int parent, const std::string& base,
                    const char* target) {
    TRY_ASSIGN(std::string target_rel, clean_name(target, layer_));
    UniqueFd src(open_in_root(rootfd_, target_rel, O_PATH | O_NOFOLLOW));
    if (!src) return system_error("hard link " + rel + " to", target_rel);
    struct stat st;
    if (fstat(src.get(), &st) != 0) return system_error("stat", target_rel);
    if (S_ISDIR(st.st_mode))
      return make_error("unpack", layer_, "hard link \"" + rel + "\" to a directory");
    TRY(clear_for(parent, base, false));
    if (linkat(src.get(), "", parent, base.c_str(), AT_EMPTY_PATH) != 0)
      return system_error("link", rel);
    ++stats_.hardlinks;
    return ok();
  }

  // The directory's entries from lower layers go; this layer's stay.
  Result<void> opaque(const std::string& dir, int dirfd) {
    ++stats_.whiteouts;
    UniqueFd d(openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d) return system_error("open", dir);
    TRY_ASSIGN(auto children, list_dir(d.get(), dir));
    for (const auto& c : children) {
      std::string rel = dir.empty() ? c : dir + "/" + c;
      if (!created_.count(rel)) TRY(remove_tree_at(d.get(), c));
    }
    return ok();
  }

  Result<void> finish(int parent, const std::string& base, archive_entry* e, mode_t mode,
                      bool symlink) {
    if (fchownat(parent, base.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                 static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) != 0)
      return system_error("chown", base);
    // After chown, which clears setuid bits.
    if (!symlink && fchmodat(parent, base.c_str(), mode, 0) != 0)
      return system_error("chmod", base);
    timespec times[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                         {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    (void)utimensat(parent, base.c_str(), times, AT_SYMLINK_NOFOLLOW);
    return ok();
  }

  std::string layer_;
  int rootfd_;
  UnpackPolicy policy_;
  UnpackStats stats_;
  std::set<std::string> created_;
};

}  // namespace

Result<UnpackStats> unpack_layer(const std::string& layer, const std::string& target,
                                 const UnpackPolicy& policy) {
  UniqueFd root(::open(target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return system_error("open unpack target", target);
  std::unique_ptr<archive, ArchiveCloser> a(archive_read_new());
  if (!a) return make_error("read layer", layer, "libarchive could not start");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), layer.c_str(), 1 << 16) != ARCHIVE_OK)
    return make_error("read layer", layer, archive_message(a.get()));
  Unpacker unpacker(layer, root.get(), policy);
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      return make_error("read layer", layer, archive_message(a.get()));
    TRY(unpacker.entry(a.get(), e));
  }
  return unpacker.stats();
}

}  // namespace clawcage::image
