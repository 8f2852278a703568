#include "spec/task.h"

#include "spec/validate.h"

#include <cmath>
#include <cstdlib>

namespace clawcage::spec {

namespace {

Result<std::pair<double, std::string>> number_and_suffix(const std::string& text,
                                                         const std::string& field) {
  if (text.empty()) return invalid_field(field, "empty value");
  if (text[0] == '-') return invalid_field(field, "must not be negative: \"" + text + "\"");
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(v))
    return invalid_field(field, "expected a number, got \"" + text + "\"");
  return std::pair{v, std::string(end)};
}

}  // namespace

Result<int64_t> parse_size(const std::string& text, const std::string& field) {
  TRY_ASSIGN(auto ns, number_and_suffix(text, field));
  auto [v, suffix] = ns;
  double mult = 1;
  if (suffix.empty() || suffix == "b" || suffix == "B")
    mult = 1;
  else if (suffix == "k" || suffix == "K" || suffix == "KiB" || suffix == "kb")
    mult = 1024.0;
  else if (suffix == "m" || suffix == "M" || suffix == "MiB" || suffix == "mb")
    mult = 1024.0 * 1024;
  else if (suffix == "g" || suffix == "G" || suffix == "GiB" || suffix == "gb")
    mult = 1024.0 * 1024 * 1024;
  else
    return invalid_field(field, "unknown size suffix \"" + suffix + "\" (use k, M or G)");
  double bytes = v * mult;
  if (bytes < 1 || bytes > 9e18) return invalid_field(field, "out of range: \"" + text + "\"");
  return static_cast<int64_t>(bytes);
}

Result<int64_t> parse_duration_ms(const std::string& text, const std::string& field) {
  TRY_ASSIGN(auto ns, number_and_suffix(text, field));
  auto [v, suffix] = ns;
  double mult;
  if (suffix.empty() || suffix == "s")
    mult = 1000;
  else if (suffix == "ms")
    mult = 1;
  else if (suffix == "m")
    mult = 60000;
  else if (suffix == "h")
    mult = 3600000;
  else
    return invalid_field(field, "unknown duration suffix \"" + suffix + "\" (use ms, s, m or h)");
  double ms = v * mult;
  if (ms < 1 || ms > 1e12) return invalid_field(field, "out of range: \"" + text + "\"");
  return static_cast<int64_t>(ms);
}

Result<Spec> build_task_spec(const TaskOptions& o) {
  Spec s;
  if (o.args.empty()) return invalid_field("command", "required (give it after --)");
  s.root.path = o.rootfs;
  s.root.readonly = !o.writable_rootfs;
  if (o.writable_rootfs && o.overlay_rootfs) s.annotations[kRootOverlayAnnotation] = "true";
  s.process.args = o.args;
  s.process.cwd = o.cwd;
  s.process.no_new_privileges = true;  // every tier keeps it (container: unless a bundle says)
  s.process.user.uid = o.uid;
  s.process.user.gid = o.gid;
  s.process.user.additional_gids = o.additional_gids;
  s.process.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "HOME=" + std::string(o.uid == 0 ? "/root" : "/"), "TERM=xterm"};
  for (size_t i = 0; i < o.env.size(); ++i) {
    const auto& e = o.env[i];
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0)
      return invalid_field("env[" + std::to_string(i) + "]",
                           "expected NAME=VALUE, got \"" + e + "\"");
    std::string prefix = e.substr(0, eq + 1);
    std::erase_if(s.process.env, [&](const std::string& x) { return x.rfind(prefix, 0) == 0; });
    s.process.env.push_back(e);
  }
  s.hostname = o.hostname;
  s.linux.namespaces = {{"mount", ""}};
  for (size_t i = 0; i < o.volumes.size(); ++i) {
    const auto& v = o.volumes[i];
    if (v.destination.empty() || v.destination.front() != '/')
      return invalid_field("volumes[" + std::to_string(i) + "].destination",
                           "expected an absolute path");
    // Sources were resolved and checked by policy: nothing may follow a link any more.
    Mount m{v.destination, "bind", v.source, {"rbind", "nosuid", "nodev", "x-clawcage-nofollow"}};
    if (v.readonly) m.options.push_back("ro");
    if (!v.exec) m.options.push_back("noexec");
    s.mounts.push_back(std::move(m));
  }
  if (o.output_dir)
    s.mounts.push_back({"/output",
                        "bind",
                        *o.output_dir,
                        {"bind", "nosuid", "nodev", "rw", "x-clawcage-nofollow"}});
  if (o.scratch_bytes)
    s.mounts.push_back(
        {"/scratch",
         "tmpfs",
         "tmpfs",
         {"nosuid", "nodev", "mode=1777", "size=" + std::to_string(*o.scratch_bytes)}});
  auto& r = s.linux.resources;
  if (o.memory_bytes) {
    r.memory = MemoryResources{};
    r.memory->limit = *o.memory_bytes;
  }
  if (o.pids) {
    if (*o.pids < 1) return invalid_field("pids", "must be at least 1");
    r.pids = PidsResources{*o.pids};
  }
  if (o.cpus) {
    if (*o.cpus <= 0) return invalid_field("cpus", "must be positive");
    r.cpu = CpuResources{};
    r.cpu->period = 100000;
    r.cpu->quota = static_cast<int64_t>(*o.cpus * 100000);
    if (*r.cpu->quota < 1000) return invalid_field("cpus", "must be at least 0.01");
  }
  if (o.cpu_shares) {
    if (*o.cpu_shares < 2 || *o.cpu_shares > 262144)
      return invalid_field("cpu-shares", "must be between 2 and 262144");
    if (!r.cpu) r.cpu = CpuResources{};
    r.cpu->shares = static_cast<uint64_t>(*o.cpu_shares);
  }
  if (!o.cpuset_cpus.empty()) {
    if (o.cpuset_cpus.find_first_not_of("0123456789,-") != std::string::npos)
      return invalid_field("cpuset-cpus",
                           "expected a CPU list like 0-1,3, got \"" + o.cpuset_cpus + "\"");
    if (!r.cpu) r.cpu = CpuResources{};
    r.cpu->cpus = o.cpuset_cpus;
  }
  return s;
}

}  // namespace clawcage::spec
