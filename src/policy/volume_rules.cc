#include "policy/volume_rules.h"

#include <fnmatch.h>
#include <stdlib.h>

#include <array>
#include <string_view>

namespace clawcage::policy {

namespace {

bool under(const std::string& path, std::string_view dir) {
  if (path == dir) return true;
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

std::string real_or_same(const std::string& p) {
  char* r = realpath(p.c_str(), nullptr);
  std::string out = r ? r : p;
  free(r);
  return out;
}

bool under_any(const std::string& resolved, const std::vector<std::string>& dirs) {
  for (const auto& d : dirs)
    if (under(resolved, real_or_same(d))) return true;
  return false;
}

}  // namespace

std::string sensitive_reason(const std::string& p) {
  if (p == "/") return "the host's root directory";
  static constexpr std::array kSystemDirs = {
      "/proc", "/sys", "/dev", "/etc", "/boot", "/run", "/var/run", "/var/lib/clawcage", "/root"};
  for (std::string_view d : kSystemDirs)
    if (under(p, d)) return "a host system directory (" + std::string(d) + ")";
  static constexpr std::array kSecretNames = {".ssh",   ".aws",   ".kube",   ".docker",
                                              ".gnupg", ".env",   ".netrc",  ".config/gcloud",
                                              ".azure", ".npmrc", ".pypirc", ".git-credentials"};
  // Any path component that is a credentials dot-file or dot-dir.
  for (std::string_view name : kSecretNames) {
    std::string needle = "/" + std::string(name);
    size_t pos = p.find(needle);
    while (pos != std::string::npos) {
      size_t end = pos + needle.size();
      if (end == p.size() || p[end] == '/') return "a credentials path (" + std::string(name) + ")";
      pos = p.find(needle, pos + 1);
    }
  }
  return "";
}

Result<std::string> check_volume_source(const std::string& source, const VolumeRules& rules,
                                        const std::string& field, bool writable) {
  if (source.empty()) return invalid_field(field, "empty host path");
  char* real = realpath(source.c_str(), nullptr);
  if (!real) {
    Error e = system_error("resolve volume source", source);
    e.add_context("checking " + field);
    return e;
  }
  std::string resolved(real);
  free(real);
  std::string shown = resolved == source ? source : source + " (resolves to " + resolved + ")";
  for (const auto& pattern : rules.blocked) {
    for (size_t start = 1; start < resolved.size();) {
      size_t end = resolved.find('/', start);
      std::string component = resolved.substr(start, end == std::string::npos ? end : end - start);
      if (fnmatch(pattern.c_str(), component.c_str(), 0) == 0)
        return invalid_field(field, shown + " has the component \"" + component +
                                        "\", which the trust policy blocks (" + pattern + ")");
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  if (!rules.allowlist.empty() && !under_any(resolved, rules.allowlist))
    return invalid_field(field, shown + " is not under a host path the trust policy allows");
  if (writable && rules.read_only_inputs && !under_any(resolved, rules.writable))
    return invalid_field(field, shown +
                                    " may only be mounted read-only: the trust policy keeps "
                                    "shared inputs read-only (volumes.writable lists the rest)");
  std::string why = sensitive_reason(resolved);
  if (!why.empty()) {
    if (under_any(resolved, rules.allowed)) return resolved;
    return invalid_field(field,
                         shown + " is " + why + "; refused unless allowed with --allow-host-path");
  }
  return resolved;
}

}  // namespace clawcage::policy
