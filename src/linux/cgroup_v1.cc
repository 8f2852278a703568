// The cgroup v1 backend (v1_hybrid and v1_legacy hosts).
//
// A sandbox gets "clawcage/<name>" in the v1 hierarchies it needs (memory always; cpu, cpuset
// and pids when limited; cpuacct and freezer only where the unified dir cannot stand in for
// them), and on hybrid hosts also in the cgroup2 mount at <root>/unified. Each hierarchy
// skipped is a mkdir, a migration and an rmdir saved per task. That
// unified directory carries no controller, but it is what clone3(CLONE_INTO_CGROUP) accepts
// (a v1 directory fd gives EBADF), it has cgroup.kill and it reports cpu.stat usage_usec.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "base/files.h"
#include "linux/cgroup.h"
#include "linux/cgroup_internal.h"

namespace clawcage::os {
namespace {

namespace ci = cgroup_internal;
using Clock = std::chrono::steady_clock;

// devices is not used (the sandbox gets no device nodes beyond the mount plan's), blkio is
// not limited. The order is the creation order, and so decides which hierarchy reports a
// name collision first.
constexpr const char* kControllers[] = {"memory", "cpu", "cpuacct", "cpuset", "pids", "freezer"};

// One mounted v1 hierarchy. Co-mounted controllers ("cpu,cpuacct" with cpu and cpuacct as
// symlinks to it) share one entry.
struct Hierarchy {
  std::vector<std::string> controllers;
  std::string root;  // <root>/<first controller>
};

struct Host {
  CgroupLayout layout = CgroupLayout::v1_legacy;
  std::string root;
  std::vector<Hierarchy> hierarchies;
  std::string unified;  // <root>/unified on hybrid hosts, else empty
  bool every_hierarchy = false;
  std::string parent_name = ci::kParentName;

  std::string parent(const Hierarchy& h) const { return h.root + "/" + parent_name; }
  std::string unified_parent() const { return unified + "/" + parent_name; }
};

// One directory of one sandbox in one v1 hierarchy.
struct Dir {
  std::vector<std::string> controllers;
  std::string path;
};

Error not_mounted(const Host& host, const std::string& controller) {
  Error e = make_error("apply cgroup limit", host.root + "/" + controller,
                       "the " + controller + " controller is not mounted");
  e.code = ENOENT;
  return e;
}

class CgroupV1 final : public Cgroup {
 public:
  // `hierarchies` are the v1 hierarchies this sandbox has a directory in.
  CgroupV1(std::shared_ptr<const Host> host, std::string name,
           const std::vector<const Hierarchy*>& hierarchies, UniqueFd unified_fd, bool owned)
      : host_(std::move(host)),
        name_(std::move(name)),
        unified_fd_(std::move(unified_fd)),
        released_(!owned) {
    for (const Hierarchy* h : hierarchies)
      dirs_.push_back({h->controllers, host_->parent(*h) + "/" + name_});
    if (!host_->unified.empty()) unified_ = host_->unified_parent() + "/" + name_;
  }
  ~CgroupV1() override {
    if (!released_) (void)destroy();
  }

  const std::string& name() const override { return name_; }
  int clone_into_fd() const override { return unified_fd_.valid() ? unified_fd_.get() : -1; }
  void close_clone_fd() override { unified_fd_.reset(); }

  Result<void> add_process(pid_t pid) override {
    std::string value = std::to_string(pid);
    auto targets = v1_dirs();
    // Harmless when clone3(CLONE_INTO_CGROUP) already placed it there.
    if (!unified_.empty()) targets.push_back(unified_);
    for (const auto& dir : targets) {
      if (auto r = write_file(dir + "/cgroup.procs", value); !r)
        return std::move(r).error().add_context("adding pid " + value + " to cgroup " + name_);
    }
    return ok();
  }

  Result<void> kill_all() override {
    auto deadline = Clock::now() + ci::kKillTimeout;
    auto all = all_dirs();
    Result<void> waited;
    // A second and third round catch a member forked while a round was reading the list.
    for (int round = 0; round < 3; ++round) {
      if (auto r = kill_once(); !r)
        return std::move(r).error().add_context("killing the members of cgroup " + name_);
      auto until = round == 2 ? deadline : std::min(deadline, Clock::now() + ci::kKillTimeout / 4);
      waited = ci::wait_empty(all, until);
      if (waited) return ok();
    }
    return std::move(waited).context("killing the members of cgroup " + name_);
  }

  Result<void> destroy() override {
    if (auto r = kill_all(); !r)
      return std::move(r).error().add_context("destroying cgroup " + name_);
    std::optional<Error> first;
    for (const auto& path : paths()) {
      auto r = ci::remove_tree(path);
      if (!r && !first) first = std::move(r).error();
    }
    if (first) return std::move(first->add_context("destroying cgroup " + name_));
    return ok();
  }

  Result<void> set_cpus(const std::string& cpus) override {
    std::string d = dir_of("cpuset");
    if (d.empty())
      return system_error(ENOENT, "set cpuset.cpus", "sandbox " + name() + " (no cpuset cgroup)");
    return write_file(d + "/cpuset.cpus", cpus);
  }

  std::string cpus() const override {
    std::string d = dir_of("cpuset");
    if (d.empty()) return "";
    auto v = ci::read_trimmed(d + "/cpuset.cpus");
    return v ? *v : "";
  }

  Result<CgroupStats> stats() const override {
    CgroupStats s;
    bool cpu_done = false;
    if (!unified_.empty() && path_exists(unified_ + "/cpu.stat")) {
      TRY_ASSIGN(s.cpu_usage_usec, ci::read_keyed_u64(unified_ + "/cpu.stat", "usage_usec"));
      cpu_done = true;
    }
    if (std::string d = dir_of("cpuacct"); !cpu_done && !d.empty()) {
      TRY_ASSIGN(uint64_t ns, ci::read_u64(d + "/cpuacct.usage"));
      s.cpu_usage_usec = ns / 1000;
    }
    if (std::string d = dir_of("memory"); !d.empty()) {
      TRY_ASSIGN(s.memory_peak_bytes, ci::read_u64(d + "/memory.max_usage_in_bytes"));
      TRY_ASSIGN(s.memory_current_bytes, ci::read_u64(d + "/memory.usage_in_bytes"));
      // Kernels before 4.13 have no "oom_kill" line: report 0 there.
      TRY_ASSIGN(std::string oom, read_file(d + "/memory.oom_control"));
      if (oom.find("oom_kill ") != std::string::npos) {
        TRY_ASSIGN(s.oom_kills, ci::read_keyed_u64(d + "/memory.oom_control", "oom_kill"));
      }
    }
    if (std::string d = dir_of("pids"); !d.empty()) {
      TRY_ASSIGN(s.pids_current, ci::read_u64(d + "/pids.current"));
      if (path_exists(d + "/pids.peak")) {
        TRY_ASSIGN(s.pids_peak, ci::read_u64(d + "/pids.peak"));
      }
    }
    return s;
  }

  Result<bool> populated() const override {
    TRY_ASSIGN(auto pids, ci::read_members(all_dirs()));
    return !pids.empty();
  }

  // The unified dir's cgroup.freeze when there is one (it holds every member: they were
  // placed in all hierarchies), else the v1 freezer.
  Result<void> set_frozen(bool frozen) override {
    if (!unified_.empty() && path_exists(unified_ + "/cgroup.freeze"))
      return ci::set_frozen_v2(unified_, frozen);
    std::string freezer = dir_of("freezer");
    if (freezer.empty() || !path_exists(freezer))
      return system_error(ENOTSUP, "freeze", "sandbox " + name_ + " (no freezer cgroup)");
    TRY(write_file(freezer + "/freezer.state", frozen ? "FROZEN" : "THAWED"));
    auto deadline = Clock::now() + ci::kPauseTimeout;
    for (;;) {
      TRY_ASSIGN(std::string state, ci::read_trimmed(freezer + "/freezer.state"));
      if ((state == "FROZEN") == frozen) return ok();
      if (Clock::now() >= deadline)
        return make_error("freeze", freezer, "still " + state + " after the timeout");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  Result<bool> frozen() const override {
    if (!unified_.empty() && path_exists(unified_ + "/cgroup.events")) {
      TRY_ASSIGN(uint64_t f, ci::read_keyed_u64(unified_ + "/cgroup.events", "frozen"));
      if (f == 1) return true;
    }
    std::string freezer = dir_of("freezer");
    if (freezer.empty() || !path_exists(freezer)) return false;
    TRY_ASSIGN(std::string state, ci::read_trimmed(freezer + "/freezer.state"));
    return state == "FROZEN";
  }

  std::vector<std::string> paths() const override { return all_dirs(); }
  void release() override { released_ = true; }

  std::string dir_of(const std::string& controller) const {
    for (const auto& d : dirs_)
      if (std::find(d.controllers.begin(), d.controllers.end(), controller) != d.controllers.end())
        return d.path;
    return "";
  }

 private:
  std::vector<std::string> all_dirs() const {
    std::vector<std::string> out;
    for (const auto& d : dirs_) out.push_back(d.path);
    if (!unified_.empty()) out.push_back(unified_);
    return out;
  }
  std::vector<std::string> v1_dirs() const {
    std::vector<std::string> out;
    for (const auto& d : dirs_) out.push_back(d.path);
    return out;
  }

  // One pass: cgroup.kill where the unified dir has it, and the freezer path for any v1
  // member the unified dir does not hold (or when there is no cgroup.kill).
  Result<void> kill_once() {
    TRY_ASSIGN(auto members, ci::read_members(all_dirs()));
    if (members.empty()) return thaw();  // a frozen, empty cgroup is left thawed
    if (!unified_.empty() && path_exists(unified_ + "/cgroup.kill")) {
      TRY(write_file(unified_ + "/cgroup.kill", "1"));
      TRY_ASSIGN(auto in_unified, ci::read_members({unified_}));
      TRY_ASSIGN(auto in_v1, ci::read_members(v1_dirs()));
      if (std::includes(in_unified.begin(), in_unified.end(), in_v1.begin(), in_v1.end()))
        return thaw();  // SIGKILL stays pending on a member frozen by someone else
    }
    std::string freezer = dir_of("freezer");
    // No freezer (not mounted, or a leftover that gc reopened lacks that dir): plain kills,
    // racy with fork, which the caller's further rounds make up for.
    if (freezer.empty() || !path_exists(freezer)) return ci::kill_members(all_dirs());
    // Frozen members cannot fork or exit, so the list is complete and no pid is reused.
    TRY(write_file(freezer + "/freezer.state", "FROZEN"));
    auto deadline = Clock::now() + ci::kFreezeTimeout;
    auto sleep = std::chrono::microseconds(200);
    for (int i = 0; i < 1000 && Clock::now() < deadline; ++i) {
      auto state = ci::read_trimmed(freezer + "/freezer.state");
      if (!state || *state == "FROZEN") break;  // a read error: kill anyway, then thaw
      std::this_thread::sleep_for(sleep);
      sleep = std::min(sleep * 2, std::chrono::microseconds(10000));
    }
    // Not FROZEN in time (a member in uninterruptible sleep): kill what is listed anyway;
    // the caller's next round catches the rest.
    auto killed = ci::kill_members(all_dirs());
    auto thawed = thaw();  // always, or SIGKILLed members stay frozen and never die
    if (!killed) return killed;
    return thawed;
  }

  Result<void> thaw() {
    std::string freezer = dir_of("freezer");
    if (freezer.empty() || !path_exists(freezer)) return ok();
    return write_file(freezer + "/freezer.state", "THAWED");
  }

  std::shared_ptr<const Host> host_;
  std::string name_;
  std::vector<Dir> dirs_;
  std::string unified_;
  UniqueFd unified_fd_;
  bool released_;
};

// cpuset files start empty in a new v1 cgroup, and attaching a task then fails with ENOSPC.
Result<void> inherit_cpuset(const std::string& dir, const std::string& parent) {
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    TRY_ASSIGN(std::string mine, ci::read_trimmed(dir + "/" + file));
    if (!mine.empty()) continue;
    TRY_ASSIGN(std::string theirs, ci::read_trimmed(parent + "/" + file));
    if (theirs.empty())
      return make_error("inherit cpuset", parent + "/" + file, "the parent has none to copy");
    TRY(write_file(dir + "/" + file, theirs));
  }
  return ok();
}

Result<void> make_dir(const std::string& path, bool exist_ok) {
  if (::mkdir(path.c_str(), 0755) == 0 || (exist_ok && errno == EEXIST)) return ok();
  return system_error("mkdir", path);
}

// One function per controller, each skipped when its part of the spec is unset.
Result<void> apply_memory(const Host& host, const CgroupV1& cg,
                          const std::optional<spec::MemoryResources>& mem) {
  if (!mem) return ok();
  std::string d = cg.dir_of("memory");
  if (d.empty()) return not_mounted(host, "memory");
  if (mem->limit) TRY(write_file(d + "/memory.limit_in_bytes", ci::v1_limit(*mem->limit)));
  std::string memsw = d + "/memory.memsw.limit_in_bytes";
  if (path_exists(memsw)) {
    // memsw must stay >= limit; the limit was written first. Without a swap value,
    // memory+swap equals the limit: the sandbox cannot escape its limit into swap.
    if (mem->swap)
      TRY(write_file(memsw, ci::v1_limit(*mem->swap)));
    else if (mem->limit)
      TRY(write_file(memsw, ci::v1_limit(*mem->limit)));
  } else if (mem->swap && *mem->swap >= 0) {
    Error e = make_error("apply memory.swap", memsw,
                         "swap accounting is off on this host (boot with swapaccount=1)");
    e.code = ENOENT;
    return e;
  }
  if (mem->reservation)
    TRY(write_file(d + "/memory.soft_limit_in_bytes", ci::v1_limit(*mem->reservation)));
  if (mem->disable_oom_killer)
    TRY(write_file(d + "/memory.oom_control", *mem->disable_oom_killer ? "1" : "0"));
  return ok();
}

Result<void> apply_cpu(const Host& host, const CgroupV1& cg,
                       const std::optional<spec::CpuResources>& cpu) {
  if (!cpu) return ok();
  if (cpu->shares || cpu->quota || cpu->period) {
    std::string d = cg.dir_of("cpu");
    if (d.empty()) return not_mounted(host, "cpu");
    if (cpu->shares && *cpu->shares != 0)  // 0 means unset, as in runc
      TRY(write_file(d + "/cpu.shares", std::to_string(*cpu->shares)));
    // Period first: the kernel checks the quota against the period in force.
    if (cpu->period) TRY(write_file(d + "/cpu.cfs_period_us", std::to_string(*cpu->period)));
    if (cpu->quota) TRY(write_file(d + "/cpu.cfs_quota_us", ci::v1_limit(*cpu->quota)));
  }
  if (!cpu->cpus.empty() || !cpu->mems.empty()) {
    std::string d = cg.dir_of("cpuset");
    if (d.empty()) return not_mounted(host, "cpuset");
    if (!cpu->cpus.empty()) TRY(write_file(d + "/cpuset.cpus", cpu->cpus));
    if (!cpu->mems.empty()) TRY(write_file(d + "/cpuset.mems", cpu->mems));
  }
  return ok();
}

Result<void> apply_pids(const Host& host, const CgroupV1& cg,
                        const std::optional<spec::PidsResources>& pids) {
  if (!pids) return ok();
  std::string d = cg.dir_of("pids");
  if (d.empty()) return not_mounted(host, "pids");
  return write_file(d + "/pids.max", pids->limit > 0 ? std::to_string(pids->limit) : "max");
}

class ManagerV1 final : public CgroupManager {
 public:
  explicit ManagerV1(std::shared_ptr<const Host> host) : host_(std::move(host)) {}

  CgroupLayout layout() const override { return host_->layout; }

  Result<std::unique_ptr<Cgroup>> create(const std::string& name,
                                         const spec::Resources& resources) override {
    TRY(ci::check_name(name));
    auto r = create_dirs(name, resources);
    if (!r) return std::move(r).error().add_context("creating cgroup " + name);
    auto cg = std::move(r).value();
    Result<void> applied = apply_memory(*host_, *cg, resources.memory);
    if (applied) applied = apply_cpu(*host_, *cg, resources.cpu);
    if (applied) applied = apply_pids(*host_, *cg, resources.pids);
    if (!applied) {
      Error e = std::move(applied).error();
      e.add_context("applying the limits of cgroup " + name);
      // Nothing was attached yet: this removes exactly what create_dirs made.
      if (auto undone = cg->destroy(); !undone)
        e.add_context("cleanup also failed: " + undone.error().message());
      cg->release();
      return e;
    }
    return std::unique_ptr<Cgroup>(std::move(cg));
  }

  Result<std::unique_ptr<Cgroup>> open(const std::string& name) override {
    TRY(ci::check_name(name));
    // Whatever hierarchies the sandbox has a directory in; not owning: dropping a reopened
    // cgroup must not destroy a running sandbox.
    std::vector<const Hierarchy*> present;
    for (const auto& h : host_->hierarchies)
      if (path_exists(host_->parent(h) + "/" + name)) present.push_back(&h);
    UniqueFd fd;
    bool unified = false;
    if (!host_->unified.empty()) {
      std::string u = host_->unified_parent() + "/" + name;
      int raw = ::open(u.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (raw < 0 && errno != ENOENT) return system_error("open", u);
      unified = raw >= 0;
      fd.reset(raw);
    }
    if (present.empty() && !unified) {
      std::string shown = host_->hierarchies.empty()
                              ? host_->root
                              : host_->parent(host_->hierarchies.front()) + "/" + name;
      return system_error(ENOENT, "open cgroup", shown);
    }
    return std::unique_ptr<Cgroup>(
        std::make_unique<CgroupV1>(host_, name, present, std::move(fd), false));
  }

  void remove_empty_parents() override {
    for (const auto& h : host_->hierarchies) ::rmdir(host_->parent(h).c_str());
    if (!host_->unified.empty()) ::rmdir(host_->unified_parent().c_str());
  }

  std::vector<std::string> list() const override {
    std::vector<std::string> parents;
    for (const auto& h : host_->hierarchies) parents.push_back(host_->parent(h));
    if (!host_->unified.empty()) parents.push_back(host_->unified_parent());
    return ci::list_children(parents);
  }

 private:
  // Makes every directory, or none: on failure it removes exactly the ones it made, so a
  // name collision leaves the existing sandbox untouched.
  Result<std::unique_ptr<CgroupV1>> create_dirs(const std::string& name,
                                                const spec::Resources& res) {
    std::vector<std::string> made;
    auto undo = [&](Error e) {
      for (auto it = made.rbegin(); it != made.rend(); ++it) (void)ci::remove_tree(*it);
      return e;
    };
    // The unified dir first: whether it has cgroup.kill and cpu.stat decides whether the
    // freezer and cpuacct hierarchies are needed at all.
    UniqueFd fd;
    bool unified_kill = false, unified_cpu = false;
    if (!host_->unified.empty()) {
      if (auto r = make_dir(host_->unified_parent(), true); !r) return undo(std::move(r).error());
      std::string dir = host_->unified_parent() + "/" + name;
      if (auto r = make_dir(dir, false); !r) return undo(std::move(r).error());
      made.push_back(dir);
      int raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (raw < 0) return undo(system_error("open", dir));
      fd.reset(raw);
      unified_kill = path_exists(dir + "/cgroup.kill");
      unified_cpu = path_exists(dir + "/cpu.stat");
    }
    bool cpu_limits = res.cpu && (res.cpu->shares || res.cpu->quota || res.cpu->period);
    bool cpuset_limits = res.cpu && (!res.cpu->cpus.empty() || !res.cpu->mems.empty());
    auto wanted = [&](const std::string& c) {
      if (host_->every_hierarchy || c == "memory")
        return true;  // memory peak and OOM kills are always reported
      if (c == "cpu") return cpu_limits;
      if (c == "cpuset") return cpuset_limits;
      if (c == "pids") return res.pids.has_value();
      if (c == "cpuacct") return !unified_cpu;
      if (c == "freezer") return !unified_kill;
      return false;
    };
    std::vector<const Hierarchy*> used;
    for (const auto& h : host_->hierarchies) {
      if (std::none_of(h.controllers.begin(), h.controllers.end(), wanted)) continue;
      std::string parent = host_->parent(h);
      if (auto r = make_dir(parent, true); !r) return undo(std::move(r).error());
      bool cpuset =
          std::find(h.controllers.begin(), h.controllers.end(), "cpuset") != h.controllers.end();
      // Also when the parent existed: a create that crashed may have left it unset.
      if (cpuset) {
        if (auto r = inherit_cpuset(parent, h.root); !r) return undo(std::move(r).error());
      }
      std::string dir = parent + "/" + name;
      if (auto r = make_dir(dir, false); !r) return undo(std::move(r).error());
      made.push_back(dir);
      used.push_back(&h);
      if (cpuset) {
        if (auto r = inherit_cpuset(dir, parent); !r) return undo(std::move(r).error());
      }
    }
    return std::make_unique<CgroupV1>(host_, name, used, std::move(fd), true);
  }

  std::shared_ptr<const Host> host_;
};

}  // namespace

namespace cgroup_internal {

std::unique_ptr<CgroupManager> make_v1_manager(const std::string& root, CgroupLayout layout,
                                               bool every_hierarchy,
                                               const std::string& parent_name) {
  auto host = std::make_shared<Host>();
  host->parent_name = parent_name;
  host->every_hierarchy = every_hierarchy;
  host->layout = layout;
  host->root = root;
  std::vector<std::pair<dev_t, ino_t>> seen;
  for (const char* controller : kControllers) {
    std::string path = root + "/" + controller;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;  // not mounted
    auto key = std::make_pair(st.st_dev, st.st_ino);
    auto it = std::find(seen.begin(), seen.end(), key);
    if (it != seen.end()) {
      host->hierarchies[static_cast<size_t>(it - seen.begin())].controllers.push_back(controller);
      continue;
    }
    seen.push_back(key);
    host->hierarchies.push_back({{controller}, path});
  }
  if (layout == CgroupLayout::v1_hybrid) host->unified = root + "/unified";
  return std::make_unique<ManagerV1>(std::move(host));
}

}  // namespace cgroup_internal
}  // namespace clawcage::os
