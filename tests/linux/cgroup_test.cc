// Cgroup backends. The v1 tests run as root against this host's real hybrid cgroupfs.
// The v2 backend runs twice: against a private cgroup2 mount (real kernel, but on a hybrid
// host that hierarchy has no controllers, so only directories, membership, clone3, kill
// and cpu.stat are real there), and against a fake tree of plain files that only shows
// which files the backend writes and how it parses what it reads.
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/files.h"
#include "linux/cgroup.h"
#include "linux/cgroup_internal.h"

namespace clawcage::os {
namespace {

namespace ci = cgroup_internal;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kRoot = "/sys/fs/cgroup";

std::string unique_name() {
  static int counter = 0;
  return "cgtest-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

std::string slurp(const std::string& path) {
  auto r = read_file(path);
  return r ? trim(*r) : "<" + r.error().message() + ">";
}

void put(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::set<pid_t> procs_of(const std::string& dir) {
  std::set<pid_t> out;
  std::istringstream in(slurp(dir + "/cgroup.procs"));
  for (long pid; in >> pid;) out.insert(static_cast<pid_t>(pid));
  return out;
}

// Children a test forked: SIGKILLed and reaped at scope exit, whatever the test did. The
// wait is bounded: a child left in a frozen v1 cgroup cannot die until it is thawed.
class Children {
 public:
  ~Children() { reap_all(); }
  void reap_all() {
    for (pid_t pid : std::vector<pid_t>(pids_)) {
      ::kill(pid, SIGKILL);
      if (wait(pid, 5s) == -1) ADD_FAILURE() << "child " << pid << " did not die";
    }
  }
  pid_t add(pid_t pid) {
    if (pid > 0) pids_.push_back(pid);
    return pid;
  }
  // The wait status, or -1 if the child did not end within `limit` (it is then left to the
  // destructor). Bounded by time; never asserts on how long it took.
  int wait(pid_t pid, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        pids_.erase(std::remove(pids_.begin(), pids_.end(), pid), pids_.end());
        return status;
      }
      if (r < 0) return -1;
      std::this_thread::sleep_for(2ms);
    }
    return -1;
  }

 private:
  std::vector<pid_t> pids_;
};

// A pipe a forked child blocks on until the parent has placed it in its cgroup.
struct Gate {
  int fds[2] = {-1, -1};
  Gate() { EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0); }
  ~Gate() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  void wait_in_child() {
    char c;
    ::close(fds[1]);
    while (::read(fds[0], &c, 1) < 0 && errno == EINTR) {
    }
  }
  void open_gate() {
    ::close(fds[1]);
    fds[1] = -1;
  }
};

bool is_sigkill(int status) {
  return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// A pidfd that becomes readable when the process has exited.
bool exits_within(int pidfd, int timeout_ms) {
  struct pollfd p = {pidfd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

// ---------------------------------------------------------------------------------------
// Layout detection.

TEST(CgroupDetectTest, ReportsHybridOnThisHost) {
  auto mgr = CgroupManager::detect();
  ASSERT_TRUE(mgr) << mgr.error().message();
  EXPECT_EQ((*mgr)->layout(), CgroupLayout::v1_hybrid);
}

// Mounts a filesystem for the length of a test and detaches it afterwards.
class ScopedMount {
 public:
  ScopedMount(const std::string& type, const std::string& target) : target_(target) {
    ok_ = ::mount(type.c_str(), target.c_str(), type.c_str(), MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  nullptr) == 0;
  }
  ~ScopedMount() {
    if (ok_) ::umount2(target_.c_str(), MNT_DETACH);
  }
  bool ok() const { return ok_; }

 private:
  std::string target_;
  bool ok_ = false;
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cgtest-XXXXXX";
    path_ = ::mkdtemp(tmpl) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(CgroupDetectTest, TellsLayoutsApartByFilesystemType) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  std::string legacy = tmp.path() + "/legacy", unified = tmp.path() + "/unified";
  ASSERT_EQ(::mkdir(legacy.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(unified.c_str(), 0755), 0);
  {
    // /tmp is not a cgroup root at all.
    auto none = CgroupManager::detect(tmp.path());
    EXPECT_FALSE(none);
    if (!none) {
      EXPECT_NE(none.error().message().find(tmp.path()), std::string::npos);
    }
  }
  ScopedMount tmpfs("tmpfs", legacy);
  ASSERT_TRUE(tmpfs.ok()) << strerror(errno);
  {
    auto mgr = CgroupManager::detect(legacy);
    ASSERT_TRUE(mgr) << mgr.error().message();
    EXPECT_EQ((*mgr)->layout(), CgroupLayout::v1_legacy);
  }
  std::string inner = legacy + "/unified";
  ASSERT_EQ(::mkdir(inner.c_str(), 0755), 0);
  {
    ScopedMount cg2("cgroup2", inner);
    ASSERT_TRUE(cg2.ok()) << strerror(errno);
    auto mgr = CgroupManager::detect(legacy);
    ASSERT_TRUE(mgr) << mgr.error().message();
    EXPECT_EQ((*mgr)->layout(), CgroupLayout::v1_hybrid);
  }
  ScopedMount cg2("cgroup2", unified);
  ASSERT_TRUE(cg2.ok()) << strerror(errno);
  auto mgr = CgroupManager::detect(unified);
  ASSERT_TRUE(mgr) << mgr.error().message();
  EXPECT_EQ((*mgr)->layout(), CgroupLayout::v2_unified);
}

TEST(CgroupNameTest, AcceptsOnlySafeNames) {
  EXPECT_TRUE(ci::valid_name("a"));
  EXPECT_TRUE(ci::valid_name("sandbox_1.two-3"));
  EXPECT_TRUE(ci::valid_name(std::string(128, 'x')));
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", ".hidden", "a/b", "a b",
                                                         "a\nb", "\xc3\xbc", std::string(129, 'x')})
    EXPECT_FALSE(ci::valid_name(bad)) << bad;
  auto r = ci::check_name("a/b");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_NE(r.error().message().find("a/b"), std::string::npos);
}

TEST(CgroupNameTest, SharesToWeight) {
  EXPECT_EQ(ci::shares_to_weight(2), 1u);
  EXPECT_EQ(ci::shares_to_weight(1024), 39u);
  EXPECT_EQ(ci::shares_to_weight(262144), 10000u);
  EXPECT_EQ(ci::shares_to_weight(0), 1u);             // clamped
  EXPECT_EQ(ci::shares_to_weight(1u << 30), 10000u);  // clamped
}

// ---------------------------------------------------------------------------------------
// v1 backend on this host.

class CgroupV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mgr = CgroupManager::detect();
    ASSERT_TRUE(mgr) << mgr.error().message();
    if ((*mgr)->layout() != CgroupLayout::v1_hybrid) GTEST_SKIP() << "needs a v1 hybrid host";
    // Every hierarchy, so the freezer and cpuacct paths are exercised too.
    mgr_ = ci::make_v1_manager(kRoot, CgroupLayout::v1_hybrid, /*every_hierarchy=*/true);
  }
  // Whatever a test left (a failed assertion before its own cleanup), removed here.
  void TearDown() override {
    if (!mgr_) return;
    for (const auto& name : names_) thaw(name);  // SIGKILL cannot end a frozen child
    children_.reap_all();
    for (const auto& name : names_) {
      auto cg = mgr_->open(name);
      if (cg) {
        auto r = (*cg)->destroy();
        EXPECT_TRUE(r) << r.error().message();
      }
      force_remove(name);
    }
  }

  // The test's own cleanup, independent of the code under test: SIGKILL whatever is
  // listed, then rmdir, each bounded.
  void force_remove(const std::string& name) {
    thaw(name);
    for (const char* h : kHierarchies) {
      std::string d = dir(h, name);
      for (int i = 0; i < 200 && exists(d); ++i) {
        for (pid_t pid : procs_of(d)) ::kill(pid, SIGKILL);
        if (::rmdir(d.c_str()) == 0) break;
        std::this_thread::sleep_for(10ms);
      }
      EXPECT_FALSE(exists(d)) << "left behind: " << d;
    }
  }

  // Never leave a sandbox frozen, even if the code under test got that wrong.
  void thaw(const std::string& name) {
    std::string state = dir("freezer", name) + "/freezer.state";
    if (exists(state)) (void)write_file(state, "THAWED");
  }
  std::string name() {
    names_.push_back(unique_name());
    return names_.back();
  }
  std::string dir(const std::string& hierarchy, const std::string& name) {
    return std::string(kRoot) + "/" + hierarchy + "/clawcage/" + name;
  }
  std::unique_ptr<Cgroup> make(const std::string& name, const spec::Resources& res = {}) {
    auto cg = mgr_->create(name, res);
    EXPECT_TRUE(cg) << cg.error().message();
    return cg ? std::move(cg).value() : nullptr;
  }

  // Forks a child that waits at the gate, then runs `body` and exits with its result.
  template <class F>
  pid_t fork_gated(Gate& gate, F body) {
    pid_t pid = ::fork();
    if (pid == 0) {
      gate.wait_in_child();
      ::_exit(body());
    }
    return children_.add(pid);
  }

  static constexpr const char* kHierarchies[] = {"memory", "cpu",     "cpuacct", "cpuset",
                                                 "pids",   "freezer", "unified"};

  std::unique_ptr<CgroupManager> mgr_;
  std::vector<std::string> names_;
  Children children_;
};

TEST_F(CgroupV1Test, CreatesEveryDirectoryAndAppliesLimits) {
  spec::Resources res;
  res.memory = spec::MemoryResources{};
  res.memory->limit = 64 << 20;
  res.memory->reservation = 32 << 20;
  res.memory->disable_oom_killer = false;
  res.cpu = spec::CpuResources{};
  res.cpu->shares = 512;
  res.cpu->quota = 50000;
  res.cpu->period = 100000;
  res.cpu->cpus = "0";
  res.cpu->mems = "0";
  res.pids = spec::PidsResources{16};
  std::string n = name();
  auto cg = make(n, res);
  ASSERT_TRUE(cg);

  EXPECT_EQ(cg->name(), n);
  std::vector<std::string> want;
  for (const char* h : kHierarchies) want.push_back(dir(h, n));
  auto paths = cg->paths();
  EXPECT_EQ(std::set<std::string>(paths.begin(), paths.end()),
            std::set<std::string>(want.begin(), want.end()));
  for (const auto& p : want) EXPECT_TRUE(exists(p)) << p;
  EXPECT_FALSE(exists(dir("devices", n)));

  EXPECT_EQ(slurp(dir("memory", n) + "/memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(slurp(dir("memory", n) + "/memory.memsw.limit_in_bytes"), "67108864");
  EXPECT_EQ(slurp(dir("memory", n) + "/memory.soft_limit_in_bytes"), "33554432");
  EXPECT_NE(slurp(dir("memory", n) + "/memory.oom_control").find("oom_kill_disable 0"),
            std::string::npos);
  EXPECT_EQ(slurp(dir("cpu", n) + "/cpu.shares"), "512");
  EXPECT_EQ(slurp(dir("cpu", n) + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(slurp(dir("cpu", n) + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(slurp(dir("cpuset", n) + "/cpuset.cpus"), "0");
  EXPECT_EQ(slurp(dir("cpuset", n) + "/cpuset.mems"), "0");
  EXPECT_EQ(slurp(dir("pids", n) + "/pids.max"), "16");

  int fd = cg->clone_into_fd();
  ASSERT_GE(fd, 0);
  struct statfs st;
  ASSERT_EQ(::fstatfs(fd, &st), 0);
  EXPECT_EQ(st.f_type, static_cast<decltype(st.f_type)>(CGROUP2_SUPER_MAGIC));
  EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

TEST_F(CgroupV1Test, UnlimitedValuesAndInheritedCpuset) {
  spec::Resources res;
  res.memory = spec::MemoryResources{};
  res.memory->limit = -1;
  res.memory->swap = -1;
  res.cpu = spec::CpuResources{};
  res.cpu->quota = -1;
  res.pids = spec::PidsResources{-1};
  std::string n = name();
  auto cg = make(n, res);
  ASSERT_TRUE(cg);
  std::string unlimited = slurp(std::string(kRoot) + "/memory/memory.limit_in_bytes");
  EXPECT_EQ(slurp(dir("memory", n) + "/memory.limit_in_bytes"), unlimited);
  EXPECT_EQ(slurp(dir("memory", n) + "/memory.memsw.limit_in_bytes"), unlimited);
  EXPECT_EQ(slurp(dir("cpu", n) + "/cpu.cfs_quota_us"), "-1");
  EXPECT_EQ(slurp(dir("pids", n) + "/pids.max"), "max");
  // No cpus/mems in the spec: copied from the parent, or attaching would fail (ENOSPC).
  EXPECT_EQ(slurp(dir("cpuset", n) + "/cpuset.cpus"),
            slurp(std::string(kRoot) + "/cpuset/cpuset.cpus"));
  EXPECT_EQ(slurp(dir("cpuset", n) + "/cpuset.mems"),
            slurp(std::string(kRoot) + "/cpuset/cpuset.mems"));
}

TEST_F(CgroupV1Test, SwapSetsMemsw) {
  spec::Resources res;
  res.memory = spec::MemoryResources{};
  res.memory->limit = 64 << 20;
  res.memory->swap = 128 << 20;
  std::string n = name();
  auto cg = make(n, res);
  ASSERT_TRUE(cg);
  EXPECT_EQ(slurp(dir("memory", n) + "/memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(slurp(dir("memory", n) + "/memory.memsw.limit_in_bytes"), "134217728");
}

TEST_F(CgroupV1Test, BadLimitLeavesNothingAndNamesFileAndValue) {
  spec::Resources res;
  res.cpu = spec::CpuResources{};
  res.cpu->quota = 10;  // below the kernel's 1 ms minimum: EINVAL
  std::string n = name();
  auto cg = mgr_->create(n, res);
  ASSERT_FALSE(cg);
  EXPECT_EQ(cg.error().code, EINVAL);
  std::string msg = cg.error().message();
  EXPECT_NE(msg.find(dir("cpu", n) + "/cpu.cfs_quota_us"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"10\""), std::string::npos) << msg;
  for (const char* h : kHierarchies) EXPECT_FALSE(exists(dir(h, n))) << h;
}

TEST_F(CgroupV1Test, InvalidNameCreatesNothing) {
  for (const std::string& bad : std::vector<std::string>{"", "..", ".x", "a/b", "../../escape"}) {
    auto cg = mgr_->create(bad, {});
    ASSERT_FALSE(cg) << bad;
    EXPECT_EQ(cg.error().code, EINVAL);
    auto opened = mgr_->open(bad);
    EXPECT_FALSE(opened) << bad;
  }
  EXPECT_FALSE(exists(std::string(kRoot) + "/memory/escape"));
}

TEST_F(CgroupV1Test, NameCollisionGivesEexistAndLeavesTheOtherIntact) {
  std::string n = name();
  auto first = make(n);
  ASSERT_TRUE(first);
  auto second = mgr_->create(n, {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, EEXIST);
  // The unified dir is made first (it decides which v1 hierarchies are needed).
  EXPECT_NE(second.error().message().find(dir("unified", n)), std::string::npos)
      << second.error().message();
  for (const char* h : kHierarchies) EXPECT_TRUE(exists(dir(h, n))) << h;
}

TEST_F(CgroupV1Test, PartialCollisionRollsBackWhatItMade) {
  // A leftover in one hierarchy only (pids comes after memory, cpu, cpuacct, cpuset).
  std::string n = name();
  ASSERT_TRUE(make_dirs(dir("pids", n)));
  auto cg = mgr_->create(n, {});
  ASSERT_FALSE(cg);
  EXPECT_EQ(cg.error().code, EEXIST);
  EXPECT_NE(cg.error().message().find(dir("pids", n)), std::string::npos) << cg.error().message();
  for (const char* h : {"memory", "cpu", "cpuacct", "cpuset", "freezer", "unified"})
    EXPECT_FALSE(exists(dir(h, n))) << h;
  EXPECT_TRUE(exists(dir("pids", n)));
  EXPECT_EQ(::rmdir(dir("pids", n).c_str()), 0);
}

TEST_F(CgroupV1Test, KillAllKillsChildAndDoubleForkedGrandchild) {
  std::string n = name();
  auto cg = make(n);
  ASSERT_TRUE(cg);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  Gate gate;
  pid_t child = fork_gated(gate, [&] {
    ::close(report[0]);
    pid_t mid = ::fork();
    if (mid == 0) {
      if (::fork() == 0) {  // the grandchild: detached from us, reparented to init
        ::setsid();
        pid_t self = ::getpid();
        (void)!::write(report[1], &self, sizeof self);
        for (;;) ::pause();
      }
      ::_exit(0);
    }
    ::waitpid(mid, nullptr, 0);
    ::close(report[1]);
    for (;;) ::pause();
    return 0;
  });
  ASSERT_GT(child, 0);
  ::close(report[1]);
  ASSERT_TRUE(cg->add_process(child));
  gate.open_gate();
  pid_t grandchild = 0;
  ASSERT_EQ(::read(report[0], &grandchild, sizeof grandchild),
            static_cast<ssize_t>(sizeof grandchild));
  ::close(report[0]);
  int gfd = static_cast<int>(::syscall(SYS_pidfd_open, grandchild, 0));
  ASSERT_GE(gfd, 0) << strerror(errno);
  UniqueFd gfd_owner(gfd);

  for (const char* h : kHierarchies) {
    auto procs = procs_of(dir(h, n));
    EXPECT_TRUE(procs.count(child)) << h;
    EXPECT_TRUE(procs.count(grandchild)) << h;
  }
  auto populated = cg->populated();
  ASSERT_TRUE(populated);
  EXPECT_TRUE(*populated);

  auto killed = cg->kill_all();
  ASSERT_TRUE(killed) << killed.error().message();
  EXPECT_TRUE(is_sigkill(children_.wait(child)));
  EXPECT_TRUE(exits_within(gfd, 5000)) << "grandchild " << grandchild << " survived";
  for (const char* h : kHierarchies) EXPECT_TRUE(procs_of(dir(h, n)).empty()) << h;
  populated = cg->populated();
  ASSERT_TRUE(populated);
  EXPECT_FALSE(*populated);
  // Everything ended up thawed.
  EXPECT_EQ(slurp(dir("freezer", n) + "/freezer.state"), "THAWED");
}

TEST_F(CgroupV1Test, KillAllWithoutCgroupKillUsesTheFreezer) {
  // The freezer path is what runs on v1_legacy hosts: exercise it here by building the
  // manager without the unified dir.
  auto legacy = ci::make_v1_manager(kRoot, CgroupLayout::v1_legacy);
  std::string n = name();
  auto made = legacy->create(n, {});
  ASSERT_TRUE(made) << made.error().message();
  auto cg = std::move(made).value();
  EXPECT_EQ(cg->clone_into_fd(), -1);
  // memory always; cpuacct and freezer because there is no unified cpu.stat or cgroup.kill.
  EXPECT_EQ(cg->paths().size(), 3u);
  Gate gate;
  pid_t child = fork_gated(gate, [] {
    for (int i = 0; i < 3; ++i)
      if (::fork() == 0) break;  // a small tree of sleepers
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(cg->add_process(child));
  gate.open_gate();
  auto killed = cg->kill_all();
  ASSERT_TRUE(killed) << killed.error().message();
  EXPECT_TRUE(is_sigkill(children_.wait(child)));
  for (const auto& p : cg->paths()) EXPECT_TRUE(procs_of(p).empty()) << p;
  EXPECT_EQ(slurp(dir("freezer", n) + "/freezer.state"), "THAWED");
  auto destroyed = cg->destroy();
  ASSERT_TRUE(destroyed) << destroyed.error().message();
  for (const char* h : kHierarchies) EXPECT_FALSE(exists(dir(h, n))) << h;
}

TEST_F(CgroupV1Test, KillAllAlsoKillsMembersOutsideTheUnifiedDir) {
  // cgroup.kill only reaches the unified dir's members; one placed in the v1 hierarchies
  // alone (by hand, or by a runtime that lost the race with clone3) needs the freezer path.
  std::string n = name();
  auto cg = make(n);
  ASSERT_TRUE(cg);
  Gate gate;
  pid_t child = fork_gated(gate, [] {
    for (;;) ::pause();
    return 0;
  });
  for (const auto& p : cg->paths()) {
    if (p == dir("unified", n)) continue;
    ASSERT_TRUE(write_file(p + "/cgroup.procs", std::to_string(child)));
  }
  EXPECT_TRUE(procs_of(dir("unified", n)).empty());
  EXPECT_TRUE(procs_of(dir("freezer", n)).count(child));
  gate.open_gate();
  auto killed = cg->kill_all();
  ASSERT_TRUE(killed) << killed.error().message();
  EXPECT_TRUE(is_sigkill(children_.wait(child)));
  EXPECT_EQ(slurp(dir("freezer", n) + "/freezer.state"), "THAWED");
}

TEST_F(CgroupV1Test, DestroyRemovesEveryDirectoryAndIsIdempotent) {
  std::string n = name();
  auto cg = make(n);
  ASSERT_TRUE(cg);
  Gate gate;
  pid_t child = fork_gated(gate, [] {
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(cg->add_process(child));
  gate.open_gate();
  // A nested cgroup (as a process with cgroupfs access could make) is removed first.
  ASSERT_EQ(::mkdir((dir("memory", n) + "/nested").c_str(), 0755), 0);
  auto r = cg->destroy();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(is_sigkill(children_.wait(child)));
  for (const char* h : kHierarchies) {
    struct stat st;
    EXPECT_EQ(::stat(dir(h, n).c_str(), &st), -1) << h;
    EXPECT_EQ(errno, ENOENT) << h;
  }
  r = cg->destroy();
  EXPECT_TRUE(r) << r.error().message();
  // The shared parent stays.
  EXPECT_TRUE(exists(std::string(kRoot) + "/memory/clawcage"));
}

TEST_F(CgroupV1Test, DestructorDestroysUnlessReleased) {
  std::string a = name(), b = name();
  pid_t child = 0;
  {
    auto cg = make(a);
    ASSERT_TRUE(cg);
    Gate gate;
    child = fork_gated(gate, [] {
      for (;;) ::pause();
      return 0;
    });
    ASSERT_TRUE(cg->add_process(child));
    gate.open_gate();
  }
  EXPECT_TRUE(is_sigkill(children_.wait(child)));
  for (const char* h : kHierarchies) EXPECT_FALSE(exists(dir(h, a))) << h;
  {
    auto cg = make(b);
    ASSERT_TRUE(cg);
    cg->release();
  }
  for (const char* h : kHierarchies) EXPECT_TRUE(exists(dir(h, b))) << h;
}

TEST_F(CgroupV1Test, OpenReopensWithoutOwning) {
  std::string n = name();
  {
    auto cg = make(n);
    ASSERT_TRUE(cg);
    cg->release();
  }
  {
    auto opened = mgr_->open(n);
    ASSERT_TRUE(opened) << opened.error().message();
    EXPECT_EQ((*opened)->name(), n);
    EXPECT_EQ((*opened)->paths().size(), 7u);
    EXPECT_GE((*opened)->clone_into_fd(), 0);
  }
  // Dropping the reopened object left the sandbox alone.
  for (const char* h : kHierarchies) EXPECT_TRUE(exists(dir(h, n))) << h;
  auto opened = mgr_->open(n);
  ASSERT_TRUE(opened);
  auto r = (*opened)->destroy();
  ASSERT_TRUE(r) << r.error().message();
  for (const char* h : kHierarchies) EXPECT_FALSE(exists(dir(h, n))) << h;

  auto missing = mgr_->open(n);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_NE(missing.error().message().find("clawcage/" + n), std::string::npos)
      << missing.error().message();
}

TEST_F(CgroupV1Test, ListReturnsSandboxNames) {
  std::string a = name(), b = name();
  auto ca = make(a);
  auto cb = make(b);
  ASSERT_TRUE(ca && cb);
  auto names = mgr_->list();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_EQ(std::count(names.begin(), names.end(), a), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), b), 1);
  ASSERT_TRUE(ca->destroy());
  names = mgr_->list();
  EXPECT_EQ(std::count(names.begin(), names.end(), a), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), b), 1);
  // A leftover in one hierarchy only is still listed (gc must find it).
  ASSERT_TRUE(cb->destroy());
  ASSERT_TRUE(make_dirs(dir("freezer", b)));
  names = mgr_->list();
  EXPECT_EQ(std::count(names.begin(), names.end(), b), 1);
  // TearDown's open+destroy removes it.
}

TEST_F(CgroupV1Test, OomKillIsCountedAndTheChildGetsSigkill) {
  spec::Resources res;
  res.memory = spec::MemoryResources{};
  res.memory->limit = 16 << 20;  // swap unset: memsw = limit, so no escape into swap
  std::string n = name();
  auto cg = make(n, res);
  ASSERT_TRUE(cg);
  Gate gate;
  pid_t child = fork_gated(gate, [] {
    const size_t size = 64 << 20;
    void* mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return 2;
    auto* p = static_cast<volatile char*>(mem);
    for (size_t i = 0; i < size; i += 4096) p[i] = 1;
    return 0;  // survived: the limit did not hold
  });
  ASSERT_TRUE(cg->add_process(child));
  gate.open_gate();
  int status = children_.wait(child);
  EXPECT_TRUE(is_sigkill(status)) << "status " << status;
  auto stats = cg->stats();
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_GE(stats->oom_kills, 1u);
  EXPECT_GT(stats->memory_peak_bytes, 0u);
  EXPECT_LE(stats->memory_peak_bytes, uint64_t{16} << 20);
}

TEST_F(CgroupV1Test, PidsLimitMakesForkFailWithEagain) {
  spec::Resources res;
  res.pids = spec::PidsResources{4};
  std::string n = name();
  auto cg = make(n, res);
  ASSERT_TRUE(cg);
  Gate gate;
  pid_t child = fork_gated(gate, [] {
    for (int i = 0; i < 16; ++i) {
      pid_t p = ::fork();
      if (p == 0) {
        for (;;) ::pause();
      }
      if (p < 0) return errno == EAGAIN ? 42 : 2;
    }
    return 1;  // forked 16 times under pids.max 4
  });
  ASSERT_TRUE(cg->add_process(child));
  gate.open_gate();
  int status = children_.wait(child);
  ASSERT_TRUE(status != -1 && WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 42);
  auto stats = cg->stats();
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->pids_current, 3u);  // the orphaned sleepers
  EXPECT_EQ(stats->pids_peak, 4u);
  // The orphans were reparented to init; kill_all still finds them.
  auto killed = cg->kill_all();
  ASSERT_TRUE(killed) << killed.error().message();
  for (const auto& p : cg->paths()) EXPECT_TRUE(procs_of(p).empty()) << p;
}

TEST_F(CgroupV1Test, OnlyTheNeededHierarchiesByDefault) {
  auto mgr = CgroupManager::detect();
  ASSERT_TRUE(mgr);
  std::string plain = name();
  auto a = (*mgr)->create(plain, {});
  ASSERT_TRUE(a) << a.error().message();
  // memory for the peak and OOM figures, unified for placement, kill and CPU time.
  EXPECT_TRUE(exists(dir("memory", plain)));
  EXPECT_TRUE(exists(dir("unified", plain)));
  for (const char* h : {"cpu", "cpuacct", "cpuset", "pids", "freezer"})
    EXPECT_FALSE(exists(dir(h, plain))) << h;
  std::string limited = name();
  spec::Resources res;
  res.pids = spec::PidsResources{10};
  res.cpu = spec::CpuResources{};
  res.cpu->quota = 50000;
  res.cpu->period = 100000;
  res.cpu->cpus = "0";
  auto b = (*mgr)->create(limited, res);
  ASSERT_TRUE(b) << b.error().message();
  for (const char* h : {"memory", "cpu", "cpuset", "pids", "unified"})
    EXPECT_TRUE(exists(dir(h, limited))) << h;
  EXPECT_FALSE(exists(dir("freezer", limited)));
  // Reopened by name (gc, kill from another process), it finds just those.
  auto reopened = (*mgr)->open(limited);
  ASSERT_TRUE(reopened);
  EXPECT_EQ((*reopened)->paths().size(), 5u);
  EXPECT_TRUE((*b)->destroy());
  EXPECT_TRUE((*a)->destroy());
  for (const char* h : kHierarchies) EXPECT_FALSE(exists(dir(h, limited))) << h;
}

TEST_F(CgroupV1Test, StatsReportCpuAndMemory) {
  std::string n = name();
  auto cg = make(n);
  ASSERT_TRUE(cg);
  auto before = cg->stats();
  ASSERT_TRUE(before) << before.error().message();
  EXPECT_EQ(before->oom_kills, 0u);
  EXPECT_EQ(before->pids_current, 0u);
  Gate gate;
  pid_t child = fork_gated(gate, [] {
    const size_t size = 4 << 20;
    auto* p = static_cast<volatile char*>(
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    for (size_t i = 0; i < size; i += 4096) p[i] = 1;
    volatile uint64_t x = 0;
    for (uint64_t i = 0; i < 50'000'000; ++i) x = x + i;
    return 0;
  });
  ASSERT_TRUE(cg->add_process(child));
  auto populated = cg->populated();
  ASSERT_TRUE(populated);
  EXPECT_TRUE(*populated);
  gate.open_gate();
  int status = children_.wait(child, 60s);
  ASSERT_TRUE(status != -1 && WIFEXITED(status)) << status;
  auto after = cg->stats();
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_GT(after->cpu_usage_usec, 0u);
  EXPECT_GE(after->memory_peak_bytes, uint64_t{4} << 20);
  EXPECT_GE(after->pids_peak, 1u);
  EXPECT_EQ(after->pids_current, 0u);
}

TEST_F(CgroupV1Test, Clone3IntoTheUnifiedDir) {
  std::string n = name();
  auto cg = make(n);
  ASSERT_TRUE(cg);
  Gate gate;
  struct clone_args args = {};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(cg->clone_into_fd());
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    gate.wait_in_child();
    ::_exit(0);
  }
  ASSERT_GT(pid, 0) << strerror(errno);
  children_.add(static_cast<pid_t>(pid));
  EXPECT_TRUE(procs_of(dir("unified", n)).count(static_cast<pid_t>(pid)));
  EXPECT_FALSE(procs_of(dir("memory", n)).count(static_cast<pid_t>(pid)));
  ASSERT_TRUE(cg->add_process(static_cast<pid_t>(pid)));
  for (const char* h : kHierarchies)
    EXPECT_TRUE(procs_of(dir(h, n)).count(static_cast<pid_t>(pid))) << h;
  auto r = cg->destroy();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(is_sigkill(children_.wait(static_cast<pid_t>(pid))));
}

// ---------------------------------------------------------------------------------------
// v2 backend on a private cgroup2 mount of this host's (controller-less) hierarchy.

TEST(CgroupV2RealTest, MembershipKillAndDestroyOnARealCgroup2Mount) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  ScopedMount cg2("cgroup2", tmp.path());
  ASSERT_TRUE(cg2.ok()) << strerror(errno);
  auto detected = CgroupManager::detect(tmp.path());
  ASSERT_TRUE(detected) << detected.error().message();
  auto& mgr = *detected;
  ASSERT_EQ(mgr->layout(), CgroupLayout::v2_unified);
  std::string n = unique_name();
  std::string dir = tmp.path() + "/clawcage/" + n;
  Children children;
  {
    // No pids controller in this hierarchy: an error that says so, and nothing left.
    spec::Resources res;
    res.pids = spec::PidsResources{8};
    auto failed = mgr->create(n, res);
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().message().find("pids controller"), std::string::npos)
        << failed.error().message();
    EXPECT_FALSE(exists(dir));
  }
  auto made = mgr->create(n, {});
  ASSERT_TRUE(made) << made.error().message();
  auto cg = std::move(made).value();
  EXPECT_EQ(cg->paths(), std::vector<std::string>{dir});
  auto again = mgr->create(n, {});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);

  struct clone_args args = {};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(cg->clone_into_fd());
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    if (::fork() == 0) ::setsid();  // one more member, not our child
    for (;;) ::pause();
  }
  ASSERT_GT(pid, 0) << strerror(errno);
  children.add(static_cast<pid_t>(pid));
  EXPECT_TRUE(procs_of(dir).count(static_cast<pid_t>(pid)));
  auto populated = cg->populated();
  ASSERT_TRUE(populated) << populated.error().message();
  EXPECT_TRUE(*populated);
  auto stats = cg->stats();
  ASSERT_TRUE(stats) << stats.error().message();
  auto names = mgr->list();
  EXPECT_EQ(std::count(names.begin(), names.end(), n), 1);

  auto killed = cg->kill_all();
  ASSERT_TRUE(killed) << killed.error().message();
  EXPECT_TRUE(is_sigkill(children.wait(static_cast<pid_t>(pid))));
  EXPECT_TRUE(procs_of(dir).empty());
  populated = cg->populated();
  ASSERT_TRUE(populated);
  EXPECT_FALSE(*populated);
  auto destroyed = cg->destroy();
  ASSERT_TRUE(destroyed) << destroyed.error().message();
  EXPECT_FALSE(exists(dir));
  EXPECT_FALSE(exists(std::string(kRoot) + "/unified/clawcage/" + n));
}

// ---------------------------------------------------------------------------------------
// v2 backend against a fake tree: plain files standing in for cgroupfs. This checks what
// the backend writes and parses, not what a kernel accepts.

constexpr const char* kAllControllers = "cpuset cpu io memory hugetlb pids rdma misc";

class CgroupV2FakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    root_ = tmp_.path();
    put(root_ + "/cgroup.controllers", kAllControllers);
    put(root_ + "/cgroup.subtree_control", "");
    controllers_ = kAllControllers;
  }

  // What cgroupfs does on mkdir and before rmdir, done by hand.
  ci::V2Hooks hooks(bool remove_files = true) {
    ci::V2Hooks h;
    h.after_mkdir = [this](const std::string& d) {
      const std::pair<const char*, std::string> files[] = {
          {"cgroup.controllers", controllers_},
          {"cgroup.subtree_control", ""},
          {"cgroup.procs", ""},
          {"cgroup.kill", ""},
          {"cgroup.freeze", "0"},
          {"cgroup.events", "populated 0\nfrozen 0\n"},
          {"memory.max", "max"},
          {"memory.swap.max", "max"},
          {"memory.low", "0"},
          {"memory.current", "0"},
          {"memory.peak", "0"},
          {"memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"},
          {"cpu.weight", "100"},
          {"cpu.max", "max 100000"},
          {"cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"},
          {"cpuset.cpus", ""},
          {"cpuset.mems", ""},
          {"pids.max", "max"},
          {"pids.current", "0"},
          {"pids.peak", "0"},
      };
      for (const auto& [file, text] : files) put(d + "/" + file, text);
    };
    if (remove_files) {
      h.before_rmdir = [](const std::string& d) {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(d, ec))
          if (e.is_regular_file()) fs::remove(e.path(), ec);
      };
    }
    return h;
  }

  std::string dir(const std::string& name) { return root_ + "/clawcage/" + name; }

  TempDir tmp_;
  std::string root_;
  std::string controllers_;
};

TEST_F(CgroupV2FakeTest, DelegatesControllersAndWritesLimits) {
  auto mgr = ci::make_v2_manager(root_, hooks());
  EXPECT_EQ(mgr->layout(), CgroupLayout::v2_unified);
  spec::Resources res;
  res.memory = spec::MemoryResources{};
  res.memory->limit = 64 << 20;
  res.memory->reservation = 32 << 20;
  res.cpu = spec::CpuResources{};
  res.cpu->shares = 512;
  res.cpu->quota = 50000;
  res.cpu->period = 100000;
  res.cpu->cpus = "0";
  res.cpu->mems = "0";
  res.pids = spec::PidsResources{16};
  auto made = mgr->create("box", res);
  ASSERT_TRUE(made) << made.error().message();
  auto cg = std::move(made).value();
  EXPECT_EQ(slurp(root_ + "/cgroup.subtree_control"), "+memory +cpu +pids +cpuset");
  EXPECT_EQ(slurp(root_ + "/clawcage/cgroup.subtree_control"), "+memory +cpu +pids +cpuset");
  EXPECT_EQ(slurp(dir("box") + "/memory.max"), "67108864");
  EXPECT_EQ(slurp(dir("box") + "/memory.swap.max"), "0");  // no swap beyond the limit
  EXPECT_EQ(slurp(dir("box") + "/memory.low"), "33554432");
  EXPECT_EQ(slurp(dir("box") + "/cpu.weight"), "20");
  EXPECT_EQ(slurp(dir("box") + "/cpu.max"), "50000 100000");
  EXPECT_EQ(slurp(dir("box") + "/cpuset.cpus"), "0");
  EXPECT_EQ(slurp(dir("box") + "/cpuset.mems"), "0");
  EXPECT_EQ(slurp(dir("box") + "/pids.max"), "16");
  EXPECT_GE(cg->clone_into_fd(), 0);
  EXPECT_EQ(cg->paths(), std::vector<std::string>{dir("box")});
  auto r = cg->destroy();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(exists(dir("box")));
}

TEST_F(CgroupV2FakeTest, SwapAndUnlimitedValues) {
  auto mgr = ci::make_v2_manager(root_, hooks());
  spec::Resources res;
  res.memory = spec::MemoryResources{};
  res.memory->limit = 64 << 20;
  res.memory->swap = 96 << 20;  // memory+swap: 32 MiB of swap
  auto a = mgr->create("a", res);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(slurp(dir("a") + "/memory.swap.max"), "33554432");

  res.memory->limit = -1;
  res.memory->swap = -1;
  res.cpu = spec::CpuResources{};
  res.cpu->quota = -1;
  res.pids = spec::PidsResources{-1};
  auto b = mgr->create("b", res);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(slurp(dir("b") + "/memory.max"), "max");
  EXPECT_EQ(slurp(dir("b") + "/memory.swap.max"), "max");
  EXPECT_EQ(slurp(dir("b") + "/cpu.max"), "max 100000");
  EXPECT_EQ(slurp(dir("b") + "/pids.max"), "max");

  res = {};
  res.cpu = spec::CpuResources{};
  res.cpu->period = 20000;  // period alone keeps the quota unlimited
  auto c = mgr->create("c", res);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(slurp(dir("c") + "/cpu.max"), "max 20000");
}

TEST_F(CgroupV2FakeTest, InvalidMemoryCombinationsLeaveNothing) {
  auto mgr = ci::make_v2_manager(root_, hooks());
  spec::Resources res;
  res.memory = spec::MemoryResources{};
  res.memory->limit = 64 << 20;
  res.memory->swap = 32 << 20;  // memory+swap below memory
  auto r = mgr->create("low-swap", res);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("swap"), std::string::npos) << r.error().message();
  EXPECT_FALSE(exists(dir("low-swap")));

  res.memory = spec::MemoryResources{};
  res.memory->disable_oom_killer = true;
  r = mgr->create("no-oom", res);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("disableOOMKiller"), std::string::npos) << r.error().message();
  EXPECT_FALSE(exists(dir("no-oom")));
}

TEST_F(CgroupV2FakeTest, DelegatesOnlyAvailableControllers) {
  put(root_ + "/cgroup.controllers", "memory pids");
  controllers_ = "memory pids";
  auto mgr = ci::make_v2_manager(root_, hooks());
  auto ok_cg = mgr->create("fine", {});
  ASSERT_TRUE(ok_cg) << ok_cg.error().message();
  EXPECT_EQ(slurp(root_ + "/cgroup.subtree_control"), "+memory +pids");
  EXPECT_EQ(slurp(root_ + "/clawcage/cgroup.subtree_control"), "+memory +pids");

  spec::Resources res;
  res.cpu = spec::CpuResources{};
  res.cpu->shares = 1024;
  auto r = mgr->create("wants-cpu", res);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("cpu controller"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find(dir("wants-cpu")), std::string::npos) << r.error().message();
  EXPECT_FALSE(exists(dir("wants-cpu")));
}

TEST_F(CgroupV2FakeTest, StatsParseTheV2Files) {
  auto mgr = ci::make_v2_manager(root_, hooks());
  auto made = mgr->create("box", {});
  ASSERT_TRUE(made) << made.error().message();
  auto cg = std::move(made).value();
  put(dir("box") + "/cpu.stat", "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n");
  put(dir("box") + "/memory.peak", "5000\n");
  put(dir("box") + "/memory.current", "4000\n");
  put(dir("box") + "/memory.events", "low 0\nhigh 0\nmax 9\noom 4\noom_kill 3\n");
  put(dir("box") + "/pids.current", "2\n");
  put(dir("box") + "/pids.peak", "7\n");
  auto s = cg->stats();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->cpu_usage_usec, 1234u);
  EXPECT_EQ(s->memory_peak_bytes, 5000u);
  EXPECT_EQ(s->memory_current_bytes, 4000u);
  EXPECT_EQ(s->oom_kills, 3u);
  EXPECT_EQ(s->pids_current, 2u);
  EXPECT_EQ(s->pids_peak, 7u);
  // Without memory.peak (kernels before 5.19) the peak stays 0.
  ASSERT_EQ(::unlink((dir("box") + "/memory.peak").c_str()), 0);
  s = cg->stats();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->memory_peak_bytes, 0u);
}

TEST_F(CgroupV2FakeTest, AddProcessAndKillWriteTheirFiles) {
  auto mgr = ci::make_v2_manager(root_, hooks());
  auto made = mgr->create("box", {});
  ASSERT_TRUE(made) << made.error().message();
  auto cg = std::move(made).value();
  ASSERT_TRUE(cg->add_process(4242));
  EXPECT_EQ(slurp(dir("box") + "/cgroup.procs"), "4242");
  put(dir("box") + "/cgroup.procs", "");
  // Empty: kill_all has nothing to do and writes nothing.
  ASSERT_TRUE(cg->kill_all());
  EXPECT_EQ(slurp(dir("box") + "/cgroup.kill"), "");
  put(dir("box") + "/cgroup.events", "populated 1\nfrozen 0\n");
  auto populated = cg->populated();
  ASSERT_TRUE(populated);
  EXPECT_TRUE(*populated);
  auto killed = cg->kill_all();
  ASSERT_TRUE(killed) << killed.error().message();
  EXPECT_EQ(slurp(dir("box") + "/cgroup.kill"), "1");
}

TEST_F(CgroupV2FakeTest, CollisionOpenListAndIdempotentDestroy) {
  auto mgr = ci::make_v2_manager(root_, hooks());
  auto made = mgr->create("box", {});
  ASSERT_TRUE(made) << made.error().message();
  auto again = mgr->create("box", {});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  EXPECT_NE(again.error().message().find(dir("box")), std::string::npos);
  EXPECT_TRUE(exists(dir("box") + "/cgroup.procs"));  // the first one is intact

  ASSERT_TRUE(mgr->create("other", {}));  // dropped at once: destroyed by the destructor
  EXPECT_FALSE(exists(dir("other")));
  ASSERT_TRUE(::mkdir((root_ + "/clawcage/.not-a-sandbox").c_str(), 0755) == 0);
  EXPECT_EQ(mgr->list(), std::vector<std::string>{"box"});

  (*made)->release();
  made = mgr->open("box");
  ASSERT_TRUE(made) << made.error().message();
  EXPECT_GE((*made)->clone_into_fd(), 0);
  auto r = (*made)->destroy();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(exists(dir("box")));
  r = (*made)->destroy();
  EXPECT_TRUE(r) << r.error().message();
  auto missing = mgr->open("box");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_NE(missing.error().message().find(dir("box")), std::string::npos);
}

TEST_F(CgroupV2FakeTest, FailedRmdirNamesThePathAndErrno) {
  // Without the hook that plays cgroupfs, the plain files keep the directory non-empty:
  // destroy retries a bounded number of times, then reports the path.
  auto mgr = ci::make_v2_manager(root_, hooks(/*remove_files=*/false));
  auto made = mgr->create("stuck", {});
  ASSERT_TRUE(made) << made.error().message();
  auto cg = std::move(made).value();
  auto r = cg->destroy();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOTEMPTY);
  EXPECT_NE(r.error().message().find("rmdir " + dir("stuck")), std::string::npos)
      << r.error().message();
  cg->release();
}

}  // namespace
}  // namespace clawcage::os
