#include "linux/seccomp_cache.h"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "base/files.h"

namespace clawcage::os {

namespace {

void put(std::string& out, const std::string& s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

// A trusted cache dir: owned by root, no group/other write.
bool trusted_dir(const std::string& dir) {
  struct stat st;
  return stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
         (st.st_mode & 022) == 0;
}

}  // namespace

std::string seccomp_cache_text(const spec::Seccomp& p) {
  // Length-prefixed fields: no two profiles serialise alike.
  std::string text = "clawcage-seccomp-v1";
  const scmp_version* v = seccomp_version();
  text +=
      std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->micro);
  utsname u;
  if (uname(&u) == 0) put(text, u.machine);
  put(text, p.default_action);
  put(text, p.default_errno_ret ? std::to_string(*p.default_errno_ret) : "-");
  for (const auto& a : p.architectures) put(text, "arch " + a);
  for (const auto& f : p.flags) put(text, "flag " + f);
  for (const auto& r : p.syscalls) {
    put(text, "rule");
    for (const auto& n : r.names) put(text, n);
    put(text, r.action);
    put(text, r.errno_ret ? std::to_string(*r.errno_ret) : "-");
    for (const auto& a : r.args)
      put(text, std::to_string(a.index) + " " + std::to_string(a.value) + " " +
                    std::to_string(a.value_two) + " " + a.op);
  }
  return text;
}

std::string seccomp_cache_key(const std::string& text) {
  // FNV-1a names the file; the file holds the full text and is used only when the text
  // matches byte for byte, so a collision costs a recompile, never a wrong filter.
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

Result<SeccompProgram> compile_seccomp_cached(const spec::Seccomp& profile,
                                              const std::string& cache_dir) {
  std::string text = seccomp_cache_text(profile);
  std::string path = cache_dir + "/" + seccomp_cache_key(text) + ".bpf";
  // Layout: 8-byte text length, the text, 4-byte flags, then the instructions.
  const size_t header = sizeof(uint64_t) + text.size() + sizeof(unsigned);
  bool trusted = trusted_dir(cache_dir);
  if (trusted) {
    auto data = read_file(path);
    uint64_t len = 0;
    if (data && data->size() > header && (data->size() - header) % sizeof(sock_filter) == 0) {
      std::memcpy(&len, data->data(), sizeof len);
      if (len == text.size() && data->compare(sizeof len, text.size(), text) == 0) {
        SeccompProgram program;
        std::memcpy(&program.flags, data->data() + sizeof len + text.size(), sizeof(unsigned));
        program.instructions.resize((data->size() - header) / sizeof(sock_filter));
        std::memcpy(program.instructions.data(), data->data() + header, data->size() - header);
        return program;
      }
    }
  }
  TRY_ASSIGN(SeccompProgram program, compile_seccomp(profile));
  if (!trusted) {
    if (!make_dirs(cache_dir, 0700) || !trusted_dir(cache_dir)) return program;
  }
  // Write-then-rename: a concurrent reader sees the old state or the whole new file.
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return program;
  uint64_t len = text.size();
  std::string data(reinterpret_cast<const char*>(&len), sizeof len);
  data += text;
  data.append(reinterpret_cast<const char*>(&program.flags), sizeof(unsigned));
  data.append(reinterpret_cast<const char*>(program.instructions.data()),
              program.instructions.size() * sizeof(sock_filter));
  bool written = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
  return program;
}

}  // namespace clawcage::os
