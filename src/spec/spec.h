// The OCI runtime-spec (config.json) as a typed model: the engine's one input.
// Only the fields clawcage acts on are modelled; parse.cc refuses fields it does not
// understand where ignoring them would weaken the sandbox.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace clawcage::spec {

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additional_gids;
};

struct Capabilities {
  std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t soft = 0;
  uint64_t hard = 0;
};

struct Process {
  bool terminal = false;
  User user;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  Capabilities capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::optional<int> oom_score_adj;
};

struct Root {
  std::string path;
  bool readonly = false;
};

struct Mount {
  std::string destination;
  std::string type;  // "bind", "proc", "tmpfs", "sysfs", "devpts", "mqueue", "cgroup"...
  std::string source;
  std::vector<std::string> options;
};

struct Namespace {
  std::string type;  // pid, network, mount, ipc, uts, user, cgroup
  std::string path;  // join an existing one (unsupported for now: refused by validation)
};

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
};

struct MemoryResources {
  std::optional<int64_t> limit;        // bytes; -1 = unlimited
  std::optional<int64_t> reservation;  // soft limit
  std::optional<int64_t> swap;         // memory+swap; -1 = unlimited
  std::optional<bool> disable_oom_killer;
};

struct CpuResources {
  std::optional<uint64_t> shares;  // v1 cpu.shares (2..262144); v2 weight derived from it
  std::optional<int64_t> quota;    // microseconds per period; -1 = unlimited
  std::optional<uint64_t> period;  // microseconds
  std::string cpus;                // cpuset "0-1"
  std::string mems;
};

struct PidsResources {
  int64_t limit = 0;  // 0 or -1 = unlimited
};

struct Resources {
  std::optional<MemoryResources> memory;
  std::optional<CpuResources> cpu;
  std::optional<PidsResources> pids;
};

struct SeccompArg {
  unsigned index = 0;
  uint64_t value = 0;
  uint64_t value_two = 0;
  std::string op;  // SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ, ...
};

struct SeccompSyscall {
  std::vector<std::string> names;
  std::string action;  // SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, ...
  std::optional<unsigned> errno_ret;
  std::vector<SeccompArg> args;
};

struct Seccomp {
  std::string default_action;
  std::optional<unsigned> default_errno_ret;
  std::vector<std::string> architectures;
  std::vector<std::string> flags;
  std::vector<SeccompSyscall> syscalls;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings;
  std::vector<IdMapping> gid_mappings;
  Resources resources;
  std::string cgroups_path;
  std::optional<Seccomp> seccomp;
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  std::string rootfs_propagation;  // private (default), rprivate, slave, rslave
  std::map<std::string, std::string> sysctl;
};

// One POSIX-platform hook (config.md): path is absolute; args[0] is what the hook sees as
// its name; env is its whole environment; timeout (seconds) kills it on expiry.
struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;
};

struct Hooks {
  std::vector<Hook> prestart;  // deprecated by the spec, still run (before createRuntime)
  std::vector<Hook> create_runtime, create_container, start_container, poststart, poststop;
  bool empty() const {
    return prestart.empty() && create_runtime.empty() && create_container.empty() &&
           start_container.empty() && poststart.empty() && poststop.empty();
  }
};

struct Spec {
  std::string oci_version = "1.0.2";
  Process process;
  Root root;
  std::string hostname;
  std::vector<Mount> mounts;
  Linux linux;
  std::map<std::string, std::string> annotations;
  Hooks hooks;

  bool has_namespace(const std::string& type) const;
};

}  // namespace clawcage::spec
