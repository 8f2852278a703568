#include <algorithm>

#include "spec/tiers/tier_detail.h"

namespace clawcage::spec {

Result<Tier> parse_tier(const std::string& name) {
  if (name == "chroot") return Tier::chroot;
  if (name == "container") return Tier::container;
  if (name == "strict") return Tier::strict;
  if (name == "gvisor") return Tier::gvisor;
  return invalid_field(
      "isolate", "unknown tier \"" + name + "\" (expected chroot, container, strict or gvisor)");
}

const char* tier_name(Tier tier) {
  switch (tier) {
    case Tier::chroot:
      return "chroot";
    case Tier::container:
      return "container";
    case Tier::strict:
      return "strict";
    case Tier::gvisor:
      return "gvisor";
  }
  return "unknown";
}

int tier_strength(Tier tier) {
  switch (tier) {
    case Tier::chroot:
      return 0;
    case Tier::container:
      return 1;
    case Tier::strict:
      return 2;
    case Tier::gvisor:
      return 3;
  }
  return -1;
}

bool tier_at_least(Tier a, Tier b) {
  return tier_strength(a) >= tier_strength(b);
}

std::vector<std::string> container_capabilities() {
  // Docker's default set: what ordinary programs expect of root, minus everything that
  // reaches the kernel or other processes. Inside a user namespace they are namespaced.
  return {"CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",  "CAP_FOWNER",
          "CAP_SETGID", "CAP_SETUID",       "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
          "CAP_KILL",   "CAP_AUDIT_WRITE",  "CAP_SETFCAP"};
}

std::vector<std::string> default_masked_paths() {
  return {"/proc/acpi",
          "/proc/asound",
          "/proc/kcore",
          "/proc/keys",
          "/proc/latency_stats",
          "/proc/timer_list",
          "/proc/timer_stats",
          "/proc/sched_debug",
          "/proc/scsi",
          "/sys/firmware",
          "/sys/devices/virtual/powercap"};
}

std::vector<std::string> default_readonly_paths() {
  return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

std::vector<std::string> co_tenant_statistics_paths() {
  return {"/proc/pressure",     "/proc/loadavg",    "/proc/stat",     "/proc/schedstat",
          "/proc/diskstats",    "/proc/vmstat",     "/proc/zoneinfo", "/proc/buddyinfo",
          "/proc/pagetypeinfo", "/proc/interrupts", "/proc/softirqs", "/proc/slabinfo",
          "/proc/meminfo",      "/proc/swaps",      "/sys/fs/cgroup", "/sys/kernel/debug"};
}

std::vector<std::string> strict_denied_syscalls() {
  return {"unshare",
          "setns",
          "mount",
          "umount",
          "umount2",
          "pivot_root",
          "chroot",
          "keyctl",
          "add_key",
          "request_key",
          "bpf",
          "userfaultfd",
          "perf_event_open",
          "ptrace",
          "process_vm_readv",
          "process_vm_writev",
          "kexec_load",
          "kexec_file_load",
          "init_module",
          "finit_module",
          "delete_module",
          "open_by_handle_at",
          "name_to_handle_at",
          "io_uring_setup",
          "io_uring_enter",
          "io_uring_register",
          "fsopen",
          "fsconfig",
          "fsmount",
          "fspick",
          "move_mount",
          "open_tree",
          "mount_setattr",
          "setuid",
          "setgid",
          "setreuid",
          "setregid",
          "setresuid",
          "setresgid",
          "setfsuid",
          "setfsgid",
          "setgroups",
          "setuid32",
          "setgid32",
          "setreuid32",
          "setregid32",
          "setresuid32",
          "setresgid32",
          "setfsuid32",
          "setfsgid32",
          "setgroups32",
          "personality",
          "swapon",
          "swapoff",
          "reboot",
          "syslog",
          "acct",
          "quotactl",
          "lookup_dcookie",
          "fanotify_init",
          "vhangup",
          "iopl",
          "ioperm"};
}

Result<TierResult> apply_tier(Tier tier, Spec spec) {
  switch (tier) {
    case Tier::chroot:
      return apply_chroot_tier(std::move(spec));
    case Tier::container:
      return apply_container_tier(std::move(spec));
    case Tier::strict:
      return apply_strict_tier(std::move(spec));
    case Tier::gvisor:
      return apply_gvisor_tier(std::move(spec));
  }
  return invalid_field("isolate", "unknown tier");
}

namespace tier_detail {

void ensure_namespace(Spec& spec, const std::string& type) {
  if (!spec.has_namespace(type)) spec.linux.namespaces.push_back({type, ""});
}

void keep_only_namespaces(Spec& spec, const std::vector<std::string>& types) {
  std::erase_if(spec.linux.namespaces, [&](const Namespace& ns) {
    return std::find(types.begin(), types.end(), ns.type) == types.end();
  });
  for (const auto& t : types) ensure_namespace(spec, t);
}

void ensure_mount(Spec& spec, Mount mount) {
  for (const auto& m : spec.mounts)
    if (m.destination == mount.destination) return;
  spec.mounts.push_back(std::move(mount));
}

void ensure_rlimit(Spec& spec, const std::string& type, uint64_t value) {
  for (const auto& r : spec.process.rlimits)
    if (r.type == type) return;
  spec.process.rlimits.push_back({type, value, value});
}

void add_unique(std::vector<std::string>& list, const std::vector<std::string>& more) {
  for (const auto& m : more)
    if (std::find(list.begin(), list.end(), m) == list.end()) list.push_back(m);
}

void ensure_id_maps(Spec& spec) {
  // Root in the sandbox is an unprivileged host range: 100000..165535.
  if (spec.linux.uid_mappings.empty()) spec.linux.uid_mappings.push_back({0, 100000, 65536});
  if (spec.linux.gid_mappings.empty()) spec.linux.gid_mappings.push_back({0, 100000, 65536});
}

void standard_mounts(Spec& spec, bool with_sys) {
  ensure_mount(spec, {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}});
  ensure_mount(spec,
               {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}});
  ensure_mount(spec, {"/dev/pts",
                      "devpts",
                      "devpts",
                      {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}});
  ensure_mount(
      spec,
      {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}});
  ensure_mount(spec, {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}});
  if (with_sys) ensure_mount(spec, {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}});
}

void private_tmp(Spec& spec, int64_t bytes, bool force) {
  if (force) std::erase_if(spec.mounts, [](const Mount& m) { return m.destination == "/tmp"; });
  ensure_mount(spec, {"/tmp",
                      "tmpfs",
                      "tmpfs",
                      {"nosuid", "nodev", "mode=1777", "size=" + std::to_string(bytes)}});
}

}  // namespace tier_detail

}  // namespace clawcage::spec
