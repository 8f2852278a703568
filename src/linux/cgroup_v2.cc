// The pure cgroup v2 backend: "<root>/clawcage/<name>" with memory, cpu, cpuset and pids
// enabled in the root's and clawcage/'s cgroup.subtree_control.
//
// Our hosts are hybrid, so this backend has not run against a v2 host with its controllers.
// What is exercised against a real kernel (tests/linux/cgroup_test.cc mounts a private
// cgroup2 instance, which has no controllers on a hybrid host): mkdir/rmdir, the EEXIST
// path, clone3(CLONE_INTO_CGROUP) with clone_into_fd(), cgroup.procs, cgroup.kill and the
// wait for an empty cgroup, cpu.stat, the "controller not enabled" errors.
// What is only checked against a fake tree of plain files: the subtree_control writes and
// every limit file (memory.max, memory.swap.max, memory.low, cpu.weight, cpu.max,
// cpuset.*, pids.max) and the memory/pids statistics files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <thread>

#include "base/files.h"
#include "linux/cgroup.h"
#include "linux/cgroup_internal.h"

namespace clawcage::os {
namespace {

namespace ci = cgroup_internal;
using Clock = std::chrono::steady_clock;

// Enabled in this order, each only where cgroup.controllers lists it.
constexpr const char* kWanted[] = {"memory", "cpu", "pids", "cpuset"};
constexpr uint64_t kDefaultPeriod = 100000;  // the kernel's default cpu.max period

Result<std::vector<std::string>> read_controllers(const std::string& dir) {
  TRY_ASSIGN(std::string text, read_file(dir + "/cgroup.controllers"));
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

bool has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Delegates the wanted controllers that `dir` has to its children.
Result<void> enable_controllers(const std::string& dir) {
  TRY_ASSIGN(auto available, read_controllers(dir));
  std::string line;
  for (const char* c : kWanted)
    if (has(available, c)) line += (line.empty() ? "+" : " +") + std::string(c);
  if (line.empty()) return ok();
  return write_file(dir + "/cgroup.subtree_control", line);
}

class CgroupV2 final : public Cgroup {
 public:
  CgroupV2(std::string dir, std::string name, UniqueFd fd, std::shared_ptr<const ci::V2Hooks> hooks,
           bool owned)
      : dir_(std::move(dir)),
        name_(std::move(name)),
        fd_(std::move(fd)),
        hooks_(std::move(hooks)),
        released_(!owned) {}
  ~CgroupV2() override {
    if (!released_) (void)destroy();
  }

  const std::string& name() const override { return name_; }
  int clone_into_fd() const override { return fd_.valid() ? fd_.get() : -1; }
  void close_clone_fd() override { fd_.reset(); }

  Result<void> add_process(pid_t pid) override {
    std::string value = std::to_string(pid);
    if (auto r = write_file(dir_ + "/cgroup.procs", value); !r)
      return std::move(r).error().add_context("adding pid " + value + " to cgroup " + name_);
    return ok();
  }

  Result<void> kill_all() override {
    auto deadline = Clock::now() + ci::kKillTimeout;
    Result<void> waited;
    // cgroup.kill is atomic against fork; the extra rounds are for the freeze fallback.
    for (int round = 0; round < 3; ++round) {
      if (auto r = kill_once(); !r)
        return std::move(r).error().add_context("killing the members of cgroup " + name_);
      auto until = round == 2 ? deadline : std::min(deadline, Clock::now() + ci::kKillTimeout / 4);
      waited = ci::wait_empty({dir_}, until);
      if (waited) return ok();
    }
    return std::move(waited).context("killing the members of cgroup " + name_);
  }

  Result<void> destroy() override {
    if (auto r = kill_all(); !r)
      return std::move(r).error().add_context("destroying cgroup " + name_);
    if (auto r = ci::remove_tree(dir_, hooks_->before_rmdir); !r)
      return std::move(r).error().add_context("destroying cgroup " + name_);
    return ok();
  }

  Result<void> set_cpus(const std::string& cpus) override {
    return write_file(dir_ + "/cpuset.cpus", cpus);
  }

  std::string cpus() const override {
    auto v = ci::read_trimmed(dir_ + "/cpuset.cpus");
    return v ? *v : "";
  }

  Result<CgroupStats> stats() const override {
    CgroupStats s;
    // Each file exists only when its controller is enabled (cpu.stat always does).
    auto file = [&](const char* name) { return dir_ + "/" + name; };
    TRY_ASSIGN(s.cpu_usage_usec, ci::read_keyed_u64(file("cpu.stat"), "usage_usec"));
    if (path_exists(file("memory.peak"))) {
      TRY_ASSIGN(s.memory_peak_bytes, ci::read_u64(file("memory.peak")));
    }
    if (path_exists(file("memory.current"))) {
      TRY_ASSIGN(s.memory_current_bytes, ci::read_u64(file("memory.current")));
    }
    if (path_exists(file("memory.events"))) {
      TRY_ASSIGN(s.oom_kills, ci::read_keyed_u64(file("memory.events"), "oom_kill"));
    }
    if (path_exists(file("pids.current"))) {
      TRY_ASSIGN(s.pids_current, ci::read_u64(file("pids.current")));
    }
    if (path_exists(file("pids.peak"))) {
      TRY_ASSIGN(s.pids_peak, ci::read_u64(file("pids.peak")));
    }
    return s;
  }

  Result<bool> populated() const override {
    // "populated" in cgroup.events covers the subtree and, like cgroup.procs, not zombies.
    if (path_exists(dir_ + "/cgroup.events")) {
      TRY_ASSIGN(uint64_t p, ci::read_keyed_u64(dir_ + "/cgroup.events", "populated"));
      return p != 0;
    }
    TRY_ASSIGN(auto pids, ci::read_members({dir_}));
    return !pids.empty();
  }

  Result<void> set_frozen(bool frozen) override {
    if (!path_exists(dir_ + "/cgroup.freeze"))
      return system_error(ENOTSUP, "freeze", "sandbox " + name_ + " (no cgroup.freeze)");
    return ci::set_frozen_v2(dir_, frozen);
  }
  Result<bool> frozen() const override {
    if (!path_exists(dir_ + "/cgroup.events")) return false;
    TRY_ASSIGN(uint64_t f, ci::read_keyed_u64(dir_ + "/cgroup.events", "frozen"));
    return f == 1;
  }

  std::vector<std::string> paths() const override { return {dir_}; }
  void release() override { released_ = true; }

  const std::string& dir() const { return dir_; }

 private:
  Result<void> kill_once() {
    TRY_ASSIGN(bool busy, populated());
    if (!busy) return ok();
    if (path_exists(dir_ + "/cgroup.kill")) return write_file(dir_ + "/cgroup.kill", "1");
    // Kernels before 5.14: freeze (so no member forks while we list), SIGKILL each
    // member (a frozen v2 task still dies), then unfreeze whatever the outcome.
    std::string freeze = dir_ + "/cgroup.freeze";
    if (!path_exists(freeze)) return ci::kill_members({dir_});
    TRY(write_file(freeze, "1"));
    auto deadline = Clock::now() + ci::kFreezeTimeout;
    auto sleep = std::chrono::microseconds(200);
    for (int i = 0; i < 1000 && Clock::now() < deadline; ++i) {
      auto frozen = ci::read_keyed_u64(dir_ + "/cgroup.events", "frozen");
      if (!frozen || *frozen == 1) break;
      std::this_thread::sleep_for(sleep);
      sleep = std::min(sleep * 2, std::chrono::microseconds(10000));
    }
    auto killed = ci::kill_members({dir_});
    auto thawed = write_file(freeze, "0");
    if (!killed) return killed;
    return thawed;
  }

  std::string dir_;
  std::string name_;
  UniqueFd fd_;
  std::shared_ptr<const ci::V2Hooks> hooks_;
  bool released_;
};

Error not_enabled(const std::string& dir, const std::string& controller) {
  Error e = make_error("apply cgroup limit", dir + "/cgroup.controllers",
                       "the " + controller + " controller is not enabled for this cgroup");
  e.code = ENOENT;
  return e;
}

// One function per controller, each skipped when its part of the spec is unset.
Result<void> apply_memory(const std::string& d, const std::vector<std::string>& controllers,
                          const std::optional<spec::MemoryResources>& mem) {
  if (!mem) return ok();
  if (mem->disable_oom_killer && *mem->disable_oom_killer)
    return invalid_field("linux.resources.memory.disableOOMKiller",
                         "cgroup v2 has no way to disable the OOM killer");
  if (!mem->limit && !mem->swap && !mem->reservation) return ok();
  if (!has(controllers, "memory")) return not_enabled(d, "memory");
  if (mem->limit) TRY(write_file(d + "/memory.max", ci::v2_limit(*mem->limit)));
  // The spec's swap is memory+swap; v2's memory.swap.max counts swap alone.
  std::optional<std::string> swap_max;
  if (mem->swap) {
    if (*mem->swap < 0) {
      swap_max = "max";
    } else if (!mem->limit || *mem->limit < 0) {
      return invalid_field("linux.resources.memory.swap",
                           "memory+swap needs a memory limit on cgroup v2");
    } else if (*mem->swap < *mem->limit) {
      return invalid_field("linux.resources.memory.swap",
                           "memory+swap " + std::to_string(*mem->swap) + " is below the limit " +
                               std::to_string(*mem->limit));
    } else {
      swap_max = std::to_string(*mem->swap - *mem->limit);
    }
  } else if (mem->limit) {
    swap_max = *mem->limit < 0 ? "max" : "0";  // no escape from the limit into swap
  }
  std::string swap_file = d + "/memory.swap.max";
  if (swap_max) {
    if (path_exists(swap_file)) {
      TRY(write_file(swap_file, *swap_max));
    } else if (mem->swap && *mem->swap >= 0) {
      Error e = make_error("apply memory.swap", swap_file, "swap accounting is off on this host");
      e.code = ENOENT;
      return e;
    }
  }
  if (mem->reservation) TRY(write_file(d + "/memory.low", ci::v2_limit(*mem->reservation)));
  return ok();
}

Result<void> apply_cpu(const std::string& d, const std::vector<std::string>& controllers,
                       const std::optional<spec::CpuResources>& cpu) {
  if (!cpu) return ok();
  bool weight = cpu->shares && *cpu->shares != 0;
  if (weight || cpu->quota || cpu->period) {
    if (!has(controllers, "cpu")) return not_enabled(d, "cpu");
    if (weight)
      TRY(write_file(d + "/cpu.weight", std::to_string(ci::shares_to_weight(*cpu->shares))));
    if (cpu->quota || cpu->period) {
      std::string quota = cpu->quota ? ci::v2_limit(*cpu->quota) : "max";
      TRY(write_file(d + "/cpu.max",
                     quota + " " + std::to_string(cpu->period ? *cpu->period : kDefaultPeriod)));
    }
  }
  if (!cpu->cpus.empty() || !cpu->mems.empty()) {
    // Empty v2 cpuset files inherit from the parent: no copy needed, unlike v1.
    if (!has(controllers, "cpuset")) return not_enabled(d, "cpuset");
    if (!cpu->cpus.empty()) TRY(write_file(d + "/cpuset.cpus", cpu->cpus));
    if (!cpu->mems.empty()) TRY(write_file(d + "/cpuset.mems", cpu->mems));
  }
  return ok();
}

Result<void> apply_pids(const std::string& d, const std::vector<std::string>& controllers,
                        const std::optional<spec::PidsResources>& pids) {
  if (!pids) return ok();
  if (!has(controllers, "pids")) return not_enabled(d, "pids");
  return write_file(d + "/pids.max", pids->limit > 0 ? std::to_string(pids->limit) : "max");
}

class ManagerV2 final : public CgroupManager {
 public:
  ManagerV2(std::string root, ci::V2Hooks hooks, std::string parent_name)
      : root_(std::move(root)),
        parent_name_(std::move(parent_name)),
        hooks_(std::make_shared<const ci::V2Hooks>(std::move(hooks))) {}

  CgroupLayout layout() const override { return CgroupLayout::v2_unified; }

  Result<std::unique_ptr<Cgroup>> create(const std::string& name,
                                         const spec::Resources& resources) override {
    TRY(ci::check_name(name));
    auto made = create_dir(name);
    if (!made) return std::move(made).error().add_context("creating cgroup " + name);
    auto cg = std::move(made).value();
    auto controllers = read_controllers(cg->dir());
    Result<void> applied;
    if (!controllers) {
      applied = std::move(controllers).error();
    } else {
      applied = apply_memory(cg->dir(), *controllers, resources.memory);
      if (applied) applied = apply_cpu(cg->dir(), *controllers, resources.cpu);
      if (applied) applied = apply_pids(cg->dir(), *controllers, resources.pids);
    }
    if (!applied) {
      Error e = std::move(applied).error();
      e.add_context("applying the limits of cgroup " + name);
      if (auto undone = cg->destroy(); !undone)
        e.add_context("cleanup also failed: " + undone.error().message());
      cg->release();
      return e;
    }
    return std::unique_ptr<Cgroup>(std::move(cg));
  }

  Result<std::unique_ptr<Cgroup>> open(const std::string& name) override {
    TRY(ci::check_name(name));
    std::string dir = parent() + "/" + name;
    int raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (raw < 0) return system_error("open cgroup", dir);
    // Not owning: dropping a reopened cgroup must not destroy a running sandbox.
    return std::unique_ptr<Cgroup>(
        std::make_unique<CgroupV2>(dir, name, UniqueFd(raw), hooks_, false));
  }

  std::vector<std::string> list() const override { return ci::list_children({parent()}); }
  void remove_empty_parents() override { ::rmdir(parent().c_str()); }

 private:
  std::string parent() const { return root_ + "/" + parent_name_; }

  Result<std::unique_ptr<CgroupV2>> create_dir(const std::string& name) {
    TRY(enable_controllers(root_));
    std::string parent_dir = parent();
    if (::mkdir(parent_dir.c_str(), 0755) == 0) {
      if (hooks_->after_mkdir) hooks_->after_mkdir(parent_dir);
    } else if (errno != EEXIST) {
      return system_error("mkdir", parent_dir);
    }
    // clawcage/ holds no process itself, so it may delegate (the no-internal-process rule).
    TRY(enable_controllers(parent_dir));
    std::string dir = parent_dir + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0) return system_error("mkdir", dir);
    if (hooks_->after_mkdir) hooks_->after_mkdir(dir);
    int raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (raw < 0) {
      Error e = system_error("open", dir);
      (void)ci::remove_tree(dir, hooks_->before_rmdir);
      return e;
    }
    return std::make_unique<CgroupV2>(dir, name, UniqueFd(raw), hooks_, true);
  }

  std::string root_;
  std::string parent_name_;
  std::shared_ptr<const ci::V2Hooks> hooks_;
};

}  // namespace

namespace cgroup_internal {

std::unique_ptr<CgroupManager> make_v2_manager(const std::string& root, V2Hooks hooks,
                                               const std::string& parent_name) {
  return std::make_unique<ManagerV2>(root, std::move(hooks), parent_name);
}

}  // namespace cgroup_internal
}  // namespace clawcage::os
