#include "base/files.h"
#include <ftw.h>
#include <stdlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace clawcage {

Result<UniqueFd> open_file(const std::string& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return system_error("open", path);
  return UniqueFd(fd);
}

Result<std::string> read_fd(int fd) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return system_error("read", "fd " + std::to_string(fd));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> read_file(const std::string& path) {
  TRY_ASSIGN(UniqueFd fd, open_file(path, O_RDONLY));
  auto r = read_fd(fd.get());
  if (!r) return system_error(r.error().code, "read", path);
  return r;
}

Result<void> write_file_at(int dirfd, const std::string& name, const std::string& data,
                           const std::string& shown_path) {
  int fd = ::openat(dirfd, name.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC);
  if (fd < 0) return system_error("open", shown_path);
  UniqueFd owner(fd);
  ssize_t n = ::write(fd, data.data(), data.size());
  if (n < 0) {
    Error e = system_error("write", shown_path);
    e.detail = "writing \"" + data + "\"";
    return e;
  }
  if (static_cast<size_t>(n) != data.size())
    return make_error("write", shown_path, "short write of \"" + data + "\"");
  return ok();
}

Result<void> write_file(const std::string& path, const std::string& data) {
  return write_file_at(AT_FDCWD, path, data, path);
}

Result<void> create_file(const std::string& path, const std::string& data, int mode) {
  TRY_ASSIGN(UniqueFd fd, open_file(path, O_WRONLY | O_CREAT | O_TRUNC, mode));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return system_error("write", path);
    done += static_cast<size_t>(n);
  }
  return ok();
}

Result<void> make_dirs(const std::string& path, int mode) {
  if (path.empty()) return ok();
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    size_t next = path.find('/', pos + 1);
    cur = path.substr(0, next);
    pos = next;
    if (cur.empty() || cur == "/") continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return system_error("mkdir", cur);
  }
  return ok();
}

namespace {
int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  if (type == FTW_DP)
    ::rmdir(path);
  else
    ::unlink(path);
  return 0;
}
}  // namespace

void remove_tree(const std::string& path) {
  if (!path_exists(path)) return;
  nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string base_dir_of(const std::string& file) {
  size_t slash = file.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : file.substr(0, slash);
  char* real = realpath(dir.c_str(), nullptr);
  if (!real) return dir;
  std::string out(real);
  free(real);
  return out;
}

}  // namespace clawcage
