#include "spec/validate.h"

#include <linux/capability.h>
#include <sys/resource.h>

#include <array>
#include <cctype>
#include <set>
#include <string_view>

namespace clawcage::spec {

namespace {

struct Named {
  std::string_view name;
  int number;
};

constexpr std::array kCapabilities = {
    Named{"CAP_CHOWN", CAP_CHOWN},
    Named{"CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE},
    Named{"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH},
    Named{"CAP_FOWNER", CAP_FOWNER},
    Named{"CAP_FSETID", CAP_FSETID},
    Named{"CAP_KILL", CAP_KILL},
    Named{"CAP_SETGID", CAP_SETGID},
    Named{"CAP_SETUID", CAP_SETUID},
    Named{"CAP_SETPCAP", CAP_SETPCAP},
    Named{"CAP_LINUX_IMMUTABLE", CAP_LINUX_IMMUTABLE},
    Named{"CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE},
    Named{"CAP_NET_BROADCAST", CAP_NET_BROADCAST},
    Named{"CAP_NET_ADMIN", CAP_NET_ADMIN},
    Named{"CAP_NET_RAW", CAP_NET_RAW},
    Named{"CAP_IPC_LOCK", CAP_IPC_LOCK},
    Named{"CAP_IPC_OWNER", CAP_IPC_OWNER},
    Named{"CAP_SYS_MODULE", CAP_SYS_MODULE},
    Named{"CAP_SYS_RAWIO", CAP_SYS_RAWIO},
    Named{"CAP_SYS_CHROOT", CAP_SYS_CHROOT},
    Named{"CAP_SYS_PTRACE", CAP_SYS_PTRACE},
    Named{"CAP_SYS_PACCT", CAP_SYS_PACCT},
    Named{"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
    Named{"CAP_SYS_BOOT", CAP_SYS_BOOT},
    Named{"CAP_SYS_NICE", CAP_SYS_NICE},
    Named{"CAP_SYS_RESOURCE", CAP_SYS_RESOURCE},
    Named{"CAP_SYS_TIME", CAP_SYS_TIME},
    Named{"CAP_SYS_TTY_CONFIG", CAP_SYS_TTY_CONFIG},
    Named{"CAP_MKNOD", CAP_MKNOD},
    Named{"CAP_LEASE", CAP_LEASE},
    Named{"CAP_AUDIT_WRITE", CAP_AUDIT_WRITE},
    Named{"CAP_AUDIT_CONTROL", CAP_AUDIT_CONTROL},
    Named{"CAP_SETFCAP", CAP_SETFCAP},
    Named{"CAP_MAC_OVERRIDE", CAP_MAC_OVERRIDE},
    Named{"CAP_MAC_ADMIN", CAP_MAC_ADMIN},
    Named{"CAP_SYSLOG", CAP_SYSLOG},
    Named{"CAP_WAKE_ALARM", CAP_WAKE_ALARM},
    Named{"CAP_BLOCK_SUSPEND", CAP_BLOCK_SUSPEND},
    Named{"CAP_AUDIT_READ", CAP_AUDIT_READ},
    Named{"CAP_PERFMON", 38},
    Named{"CAP_BPF", 39},
    Named{"CAP_CHECKPOINT_RESTORE", 40},
};

constexpr std::array kRlimits = {
    Named{"RLIMIT_CPU", RLIMIT_CPU},           Named{"RLIMIT_FSIZE", RLIMIT_FSIZE},
    Named{"RLIMIT_DATA", RLIMIT_DATA},         Named{"RLIMIT_STACK", RLIMIT_STACK},
    Named{"RLIMIT_CORE", RLIMIT_CORE},         Named{"RLIMIT_RSS", RLIMIT_RSS},
    Named{"RLIMIT_NPROC", RLIMIT_NPROC},       Named{"RLIMIT_NOFILE", RLIMIT_NOFILE},
    Named{"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   Named{"RLIMIT_AS", RLIMIT_AS},
    Named{"RLIMIT_LOCKS", RLIMIT_LOCKS},       Named{"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    Named{"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, Named{"RLIMIT_NICE", RLIMIT_NICE},
    Named{"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     Named{"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

template <class Table>
int lookup(const Table& table, const std::string& name) {
  for (const auto& e : table)
    if (e.name == name) return e.number;
  return -1;
}

std::string at(const std::string& field, size_t i) {
  return field + "[" + std::to_string(i) + "]";
}

Result<void> check_caps(const std::vector<std::string>& caps, const std::string& field) {
  for (size_t i = 0; i < caps.size(); ++i)
    if (capability_number(caps[i]) < 0)
      return invalid_field(at(field, i), "unknown capability \"" + caps[i] + "\"");
  return ok();
}

Result<void> check_id_maps(const std::vector<IdMapping>& maps, const std::string& field) {
  if (maps.size() > 340) return invalid_field(field, "more than 340 ranges");
  for (size_t i = 0; i < maps.size(); ++i) {
    const auto& m = maps[i];
    if (uint64_t(m.container_id) + m.size > (1ull << 32) ||
        uint64_t(m.host_id) + m.size > (1ull << 32))
      return invalid_field(at(field, i), "range overflows 32 bits");
  }
  return ok();
}

bool id_mapped(const std::vector<IdMapping>& maps, uint32_t id) {
  for (const auto& m : maps)
    if (id >= m.container_id && id - m.container_id < m.size) return true;
  return false;
}

}  // namespace

int capability_number(const std::string& name) {
  return lookup(kCapabilities, name);
}
std::vector<std::string> capability_names() {
  std::vector<std::string> out;
  for (const auto& e : kCapabilities) out.push_back(std::string(e.name));
  return out;
}
int rlimit_number(const std::string& name) {
  return lookup(kRlimits, name);
}

// Only sysctls of a namespace the sandbox owns are written (as runc allows them): any other
// would change the host. The key becomes a path under /proc/sys, so it is checked whole.
static Result<void> check_sysctl(const Spec& s, const std::string& key) {
  std::string f = "linux.sysctl." + key;
  bool components_ok = !key.empty() && key.front() != '.' && key.back() != '.' &&
                       key.find("..") == std::string::npos;
  for (char c : key)
    components_ok = components_ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                      c == '.' || c == '-');
  if (!components_ok) return invalid_field(f, "not a sysctl name");
  static const std::set<std::string> kIpc = {
      "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
      "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
  auto needs = [&](const char* ns) -> Result<void> {
    if (!s.has_namespace(ns))
      return invalid_field(f, std::string("needs the sandbox's own ") + ns + " namespace");
    return ok();
  };
  if (key.rfind("net.", 0) == 0) return needs("network");
  if (kIpc.count(key) || key.rfind("fs.mqueue.", 0) == 0) return needs("ipc");
  if (key == "kernel.hostname" || key == "kernel.domainname") return needs("uts");
  return invalid_field(f, "not namespaced: writing it would change the host");
}

Result<void> validate_spec(const Spec& s) {
  if (s.process.terminal)
    return invalid_field("process.terminal", "not supported yet: run with stdio (pipes or files)");
  const auto& caps = s.process.capabilities;
  TRY(check_caps(caps.bounding, "process.capabilities.bounding"));
  TRY(check_caps(caps.effective, "process.capabilities.effective"));
  TRY(check_caps(caps.inheritable, "process.capabilities.inheritable"));
  TRY(check_caps(caps.permitted, "process.capabilities.permitted"));
  TRY(check_caps(caps.ambient, "process.capabilities.ambient"));
  std::set<std::string> seen;
  for (size_t i = 0; i < s.process.rlimits.size(); ++i) {
    const auto& r = s.process.rlimits[i];
    if (rlimit_number(r.type) < 0)
      return invalid_field(at("process.rlimits", i) + ".type", "unknown rlimit \"" + r.type + "\"");
    if (!seen.insert(r.type).second)
      return invalid_field(at("process.rlimits", i) + ".type", "duplicate rlimit " + r.type);
  }
  for (size_t i = 0; i < s.linux.namespaces.size(); ++i)
    if (!s.linux.namespaces[i].path.empty())
      return invalid_field(at("linux.namespaces", i) + ".path",
                           "joining an existing namespace is not supported yet");
  bool userns = s.has_namespace("user");
  TRY(check_id_maps(s.linux.uid_mappings, "linux.uidMappings"));
  TRY(check_id_maps(s.linux.gid_mappings, "linux.gidMappings"));
  if (userns) {
    if (s.linux.uid_mappings.empty())
      return invalid_field("linux.uidMappings", "required with a user namespace");
    if (s.linux.gid_mappings.empty())
      return invalid_field("linux.gidMappings", "required with a user namespace");
    if (!id_mapped(s.linux.uid_mappings, s.process.user.uid))
      return invalid_field("process.user.uid", "not mapped by linux.uidMappings");
    if (!id_mapped(s.linux.gid_mappings, s.process.user.gid))
      return invalid_field("process.user.gid", "not mapped by linux.gidMappings");
  } else if (!s.linux.uid_mappings.empty()) {
    return invalid_field("linux.uidMappings", "given without a user namespace");
  }
  if (!s.has_namespace("mount"))
    return invalid_field("linux.namespaces", "a mount namespace is required");
  if (!s.hostname.empty() && !s.has_namespace("uts"))
    return invalid_field("hostname", "needs a uts namespace");
  for (const auto& [key, value] : s.linux.sysctl) TRY(check_sysctl(s, key));
  const auto& prop = s.linux.rootfs_propagation;
  if (!prop.empty() && prop != "private" && prop != "rprivate" && prop != "slave" &&
      prop != "rslave")
    return invalid_field("linux.rootfsPropagation", "expected private, rprivate, slave or rslave");
  static const std::set<std::string> kTypes = {"bind",   "proc",   "tmpfs",  "sysfs",
                                               "devpts", "mqueue", "cgroup", "cgroup2"};
  for (size_t i = 0; i < s.mounts.size(); ++i) {
    const auto& m = s.mounts[i];
    std::string f = at("mounts", i);
    if (!kTypes.count(m.type))
      return invalid_field(f + ".type", "unsupported mount type \"" + m.type + "\"");
    if (m.destination.find("/../") != std::string::npos || m.destination.ends_with("/.."))
      return invalid_field(f + ".destination", "must not contain ..");
    if (m.type == "bind" && (m.source.empty() || m.source.front() != '/'))
      return invalid_field(f + ".source", "a bind source must be an absolute host path");
    if ((m.type == "cgroup" || m.type == "cgroup2") && !s.has_namespace("cgroup"))
      return invalid_field(f + ".type",
                           "a cgroup mount needs a cgroup namespace (it would show the host's)");
    if ((m.type == "sysfs") && !s.has_namespace("network"))
      return invalid_field(f + ".type", "sysfs needs a network namespace");
  }
  const auto& res = s.linux.resources;
  if (res.memory && res.memory->limit && res.memory->swap && *res.memory->swap != -1 &&
      *res.memory->limit != -1 && *res.memory->swap < *res.memory->limit)
    return invalid_field("linux.resources.memory.swap",
                         "must be at least memory.limit (it is memory+swap)");
  if (res.cpu && res.cpu->quota && *res.cpu->quota != -1 && res.cpu->period &&
      static_cast<uint64_t>(*res.cpu->quota) < 1000)
    return invalid_field("linux.resources.cpu.quota", "too small");
  auto sw = s.annotations.find(kRootSwitchAnnotation);
  if (sw != s.annotations.end() && sw->second != "pivot_root" && sw->second != "chroot")
    return invalid_field(std::string("annotations.") + kRootSwitchAnnotation,
                         "expected pivot_root or chroot");
  return ok();
}

}  // namespace clawcage::spec
