#include "linux/mount_plan.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <map>

namespace clawcage::os {

namespace {

struct FlagEntry {
  unsigned long flag;
  unsigned long attr;
  bool clear;
};

const std::map<std::string, FlagEntry>& option_table() {
  static const std::map<std::string, FlagEntry> table = {
      {"ro", {MS_RDONLY, MOUNT_ATTR_RDONLY, false}},
      {"rw", {MS_RDONLY, MOUNT_ATTR_RDONLY, true}},
      {"nosuid", {MS_NOSUID, MOUNT_ATTR_NOSUID, false}},
      {"suid", {MS_NOSUID, MOUNT_ATTR_NOSUID, true}},
      {"nodev", {MS_NODEV, MOUNT_ATTR_NODEV, false}},
      {"dev", {MS_NODEV, MOUNT_ATTR_NODEV, true}},
      {"noexec", {MS_NOEXEC, MOUNT_ATTR_NOEXEC, false}},
      {"exec", {MS_NOEXEC, MOUNT_ATTR_NOEXEC, true}},
      {"sync", {MS_SYNCHRONOUS, 0, false}},
      {"async", {MS_SYNCHRONOUS, 0, true}},
      {"dirsync", {MS_DIRSYNC, 0, false}},
      {"noatime", {MS_NOATIME, MOUNT_ATTR_NOATIME, false}},
      {"atime", {MS_NOATIME, 0, true}},
      {"nodiratime", {MS_NODIRATIME, MOUNT_ATTR_NODIRATIME, false}},
      {"diratime", {MS_NODIRATIME, 0, true}},
      {"relatime", {MS_RELATIME, 0, false}},
      {"norelatime", {MS_RELATIME, 0, true}},
      {"strictatime", {MS_STRICTATIME, 0, false}},
      {"nostrictatime", {MS_STRICTATIME, 0, true}},
  };
  return table;
}

// Propagation options on individual mounts are accepted and ignored: every sandbox mount
// tree is private (nothing propagates back to the host).
bool is_propagation(const std::string& o) {
  return o == "private" || o == "rprivate" || o == "slave" || o == "rslave" || o == "shared" ||
         o == "rshared" || o == "unbindable" || o == "runbindable";
}

Result<MountOp> op_from_mount(const spec::Mount& m, size_t index) {
  MountOp op;
  op.field = "mounts[" + std::to_string(index) + "]";
  op.destination = m.destination;
  op.source = m.source;
  std::string data;
  for (const auto& o : m.options) {
    if (o == "bind") continue;
    if (o == "rbind") {
      op.recursive = true;
      continue;
    }
    if (o == kNoFollowOption) {
      op.nofollow = true;
      continue;
    }
    if (is_propagation(o)) continue;
    auto it = option_table().find(o);
    if (it != option_table().end()) {
      if (it->second.clear) {
        op.flags &= ~it->second.flag;
        op.attrs &= ~it->second.attr;
      } else {
        op.flags |= it->second.flag;
        op.attrs |= it->second.attr;
      }
      continue;
    }
    if (m.type == "bind") {
      // A filesystem's key=value data (mode=755, size=1k) means nothing to a bind mount:
      // the kernel ignores it there, as runc and crun pass it. A bare word that is no
      // flag is still refused (a typo such as "noexc" must not pass silently).
      if (o.find('=') != std::string::npos) continue;
      return invalid_field(op.field + ".options", "unknown bind option \"" + o + "\"");
    }
    data += (data.empty() ? "" : ",") + o;
  }
  op.data = data;
  if (m.type == "bind") {
    op.kind = MountKind::bind;
  } else if (m.type == "proc") {
    op.kind = MountKind::proc;
  } else if (m.type == "tmpfs") {
    op.kind = MountKind::tmpfs;
  } else if (m.type == "sysfs") {
    op.kind = MountKind::sysfs;
  } else if (m.type == "devpts") {
    op.kind = MountKind::devpts;
  } else if (m.type == "mqueue") {
    op.kind = MountKind::mqueue;
  } else if (m.type == "cgroup" || m.type == "cgroup2") {
    op.kind = MountKind::cgroup;
    // Read-only whatever was asked: the sandbox must not move itself between cgroups.
    op.flags |= MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    op.data.clear();
    op.fstype = "cgroup2";
    return op;
  } else {
    return invalid_field(op.field + ".type", "mount type \"" + m.type + "\" is not supported");
  }
  op.fstype = m.type;
  return op;
}

std::string relative(const std::string& path) {
  size_t i = path.find_first_not_of('/');
  return i == std::string::npos ? "." : path.substr(i);
}

long sys_openat2(int dirfd, const char* path, uint64_t flags, uint64_t resolve) {
  open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = flags;
  how.resolve = resolve;
  return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

constexpr uint64_t kInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

// Opens `path` under root (O_PATH), creating missing components as directories (or the
// last one as an empty file). Never leaves the root: symlinks are resolved inside it.
Result<UniqueFd> open_target(int rootfd, const std::string& path, bool as_file) {
  std::string rel = relative(path);
  long fd = sys_openat2(rootfd, rel.c_str(), O_PATH | O_CLOEXEC, kInRoot);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  if (errno != ENOENT) return system_error("open", path);
  // Create component by component.
  UniqueFd dir(
      static_cast<int>(sys_openat2(rootfd, ".", O_PATH | O_CLOEXEC | O_DIRECTORY, kInRoot)));
  if (!dir) return system_error("open", "rootfs");
  size_t pos = 0;
  while (pos < rel.size()) {
    size_t slash = rel.find('/', pos);
    std::string name =
        rel.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? rel.size() : slash + 1;
    if (name.empty() || name == ".") continue;
    if (name == "..") return make_error("resolve", path, "contains ..");
    bool last = pos >= rel.size();
    // Re-resolve the directory we are in so a dirfd opened O_PATH can be used for mkdirat.
    UniqueFd real(static_cast<int>(sys_openat2(dir.get(), ".", O_DIRECTORY | O_CLOEXEC, kInRoot)));
    if (!real) return system_error("open", path);
    if (last && as_file) {
      int f = openat(real.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
                     0644);
      if (f < 0 && errno != EEXIST) return system_error("create mount target", path);
      if (f >= 0) ::close(f);
    } else if (mkdirat(real.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
      return system_error("mkdir mount target", path);
    }
    long next = sys_openat2(dir.get(), name.c_str(), O_PATH | O_CLOEXEC, kInRoot);
    if (next < 0) return system_error("open", path);
    dir.reset(static_cast<int>(next));
  }
  return dir;
}

std::string fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

int sys_mount_setattr(int dfd, const char* path, unsigned flags, uint64_t set, uint64_t clr) {
  mount_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.attr_set = set;
  attr.attr_clr = clr;
  return static_cast<int>(syscall(SYS_mount_setattr, dfd, path, flags, &attr, sizeof attr));
}

// Clones the tree at source_fd detached, with its flags already set, so the mount is never
// visible with weaker flags than asked. The clone must happen in the source's mount
// namespace: bind sources are cloned by the parent before clone3, masks and read-only
// paths by the child in its own.
Result<UniqueFd> clone_tree(int source_fd, bool recursive, unsigned long attrs,
                            const std::string& what) {
  unsigned tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH;
  if (recursive) tree_flags |= AT_RECURSIVE;
  long tree = syscall(SYS_open_tree, source_fd, "", tree_flags);
  if (tree < 0) return system_error("open_tree", what);
  UniqueFd tree_fd(static_cast<int>(tree));
  if (attrs != 0 &&
      sys_mount_setattr(tree_fd.get(), "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), attrs,
                        0) != 0)
    return system_error("mount_setattr", what);
  return tree_fd;
}

Result<void> attach_tree(int tree_fd, int target_fd, const std::string& what) {
  if (syscall(SYS_move_mount, tree_fd, "", target_fd, "",
              MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    return system_error("move_mount", what);
  return ok();
}

Result<void> bind(int source_fd, int target_fd, bool recursive, unsigned long attrs,
                  const std::string& what) {
  TRY_ASSIGN(UniqueFd tree, clone_tree(source_fd, recursive, attrs, what));
  return attach_tree(tree.get(), target_fd, what);
}

Result<void> make_dev_nodes(int rootfd, const std::string& dev) {
  TRY_ASSIGN(UniqueFd devpath, open_target(rootfd, dev, false));
  UniqueFd devfd(::open(fd_path(devpath.get()).c_str(), O_DIRECTORY | O_CLOEXEC));
  if (!devfd) return system_error("open", dev);
  struct Node {
    const char* name;
    unsigned major, minor;
  };
  static const Node nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                               {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  for (const auto& n : nodes) {
    if (mknodat(devfd.get(), n.name, S_IFCHR | 0666, makedev(n.major, n.minor)) != 0 &&
        errno != EEXIST)
      return system_error("mknod", dev + "/" + n.name);
    if (fchmodat(devfd.get(), n.name, 0666, 0) != 0)
      return system_error("chmod", dev + "/" + n.name);
  }
  struct Link {
    const char* target;
    const char* name;
  };
  static const Link links[] = {{"/proc/self/fd", "fd"},
                               {"/proc/self/fd/0", "stdin"},
                               {"/proc/self/fd/1", "stdout"},
                               {"/proc/self/fd/2", "stderr"},
                               {"pts/ptmx", "ptmx"}};
  for (const auto& l : links)
    if (symlinkat(l.target, devfd.get(), l.name) != 0 && errno != EEXIST)
      return system_error("symlink", dev + "/" + l.name);
  return ok();
}

Result<void> mount_fs(const MountOp& op, int target_fd) {
  std::string target = fd_path(target_fd);
  const char* data = op.data.empty() ? nullptr : op.data.c_str();
  // The source of a filesystem that has no device is only its name in mountinfo ("shm"
  // for a /dev/shm tmpfs): the spec's, as runc gives it.
  const std::string& source = op.source.empty() ? op.fstype : op.source;
  if (::mount(source.c_str(), target.c_str(), op.fstype.c_str(), op.flags, data) != 0) {
    Error e = system_error("mount " + op.fstype, op.destination);
    if (!op.data.empty()) e.detail = "options " + op.data;
    return e;
  }
  return ok();
}

Result<void> apply_op(const MountOp& op, int rootfd) {
  switch (op.kind) {
    case MountKind::bind: {
      struct stat st;
      if (fstat(op.source_fd, &st) != 0) return system_error("stat", op.source);
      TRY_ASSIGN(UniqueFd target, open_target(rootfd, op.destination, !S_ISDIR(st.st_mode)));
      return attach_tree(op.source_fd, target.get(), op.source + " on " + op.destination);
    }
    case MountKind::proc:
    case MountKind::tmpfs:
    case MountKind::sysfs:
    case MountKind::devpts:
    case MountKind::mqueue:
    case MountKind::cgroup: {
      TRY_ASSIGN(UniqueFd target, open_target(rootfd, op.destination, false));
      return mount_fs(op, target.get());
    }
    case MountKind::dev_nodes:
      return make_dev_nodes(rootfd, op.destination);
    case MountKind::mask: {
      long fd = sys_openat2(rootfd, relative(op.destination).c_str(), O_PATH | O_CLOEXEC, kInRoot);
      if (fd < 0) return errno == ENOENT ? ok() : system_error("open", op.destination);
      UniqueFd target(static_cast<int>(fd));
      struct stat st;
      if (fstat(target.get(), &st) != 0) return system_error("stat", op.destination);
      if (S_ISDIR(st.st_mode)) {
        if (::mount("tmpfs", fd_path(target.get()).c_str(), "tmpfs",
                    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555") != 0)
          return system_error("mask", op.destination);
        return ok();
      }
      UniqueFd null(::open("/dev/null", O_PATH | O_CLOEXEC));
      if (!null) return system_error("open", "/dev/null");
      return bind(null.get(), target.get(), false,
                  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOSUID,
                  "mask " + op.destination);
    }
    case MountKind::readonly: {
      long fd = sys_openat2(rootfd, relative(op.destination).c_str(), O_PATH | O_CLOEXEC, kInRoot);
      if (fd < 0) return errno == ENOENT ? ok() : system_error("open", op.destination);
      UniqueFd target(static_cast<int>(fd));
      return bind(target.get(), target.get(), true,
                  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                  "read-only " + op.destination);
    }
  }
  return ok();
}

}  // namespace

Result<MountPlan> plan_mounts(const spec::Spec& spec) {
  MountPlan plan;
  const auto& prop = spec.linux.rootfs_propagation;
  plan.propagation = MS_REC | ((prop == "slave" || prop == "rslave") ? MS_SLAVE : MS_PRIVATE);
  for (size_t i = 0; i < spec.mounts.size(); ++i) {
    const auto& m = spec.mounts[i];
    TRY_ASSIGN(MountOp op, op_from_mount(m, i));
    bool dev_tmpfs = op.kind == MountKind::tmpfs && m.destination == "/dev";
    plan.ops.push_back(std::move(op));
    if (dev_tmpfs) {
      MountOp nodes;
      nodes.kind = MountKind::dev_nodes;
      nodes.destination = "/dev";
      nodes.field = "mounts[" + std::to_string(i) + "]";
      plan.ops.push_back(std::move(nodes));
    }
  }
  // Masks and read-only paths come after every mount, so they cover what was mounted.
  auto add_paths = [&](const std::vector<std::string>& paths, MountKind kind,
                       const std::string& field) -> Result<void> {
    for (size_t i = 0; i < paths.size(); ++i) {
      MountOp op;
      op.kind = kind;
      op.destination = paths[i];
      op.field = field + "[" + std::to_string(i) + "]";
      if (op.destination.empty() || op.destination.front() != '/')
        return invalid_field(op.field, "expected an absolute path");
      plan.ops.push_back(std::move(op));
    }
    return ok();
  };
  TRY(add_paths(spec.linux.masked_paths, MountKind::mask, "linux.maskedPaths"));
  TRY(add_paths(spec.linux.readonly_paths, MountKind::readonly, "linux.readonlyPaths"));
  return plan;
}

Result<void> open_mount_sources(MountPlan& plan) {
  for (auto& op : plan.ops) {
    if (op.kind != MountKind::bind) continue;
    UniqueFd source(
        op.nofollow ? static_cast<int>(sys_openat2(AT_FDCWD, op.source.c_str(), O_PATH | O_CLOEXEC,
                                                   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS))
                    : ::open(op.source.c_str(), O_PATH | O_CLOEXEC));
    if (!source) {
      Error e = system_error("open bind source", op.source);
      e.add_context("checking " + op.field + ".source");
      return e;
    }
    // A detached copy made here, as host root in the host's mount namespace: its read-only
    // and nosuid/nodev/noexec flags are set before the sandbox can see it.
    auto tree =
        clone_tree(source.get(), op.recursive, op.attrs, op.source + " for " + op.destination);
    if (!tree) return std::move(tree).error().add_context("preparing " + op.field);
    op.source_fd = tree->get();
    plan.source_fds.push_back(std::move(tree).value());
  }
  return ok();
}

Result<void> apply_mount_plan(const MountPlan& plan, const std::string& rootfs,
                              const std::string& overlay_dir) {
  if (::mount(nullptr, "/", nullptr, plan.propagation, nullptr) != 0)
    return system_error("make mounts private", "/");
  if (!overlay_dir.empty()) {
    // In our own mount namespace, over the lower layer's own path: the lower dir is looked
    // up before the overlay covers it, and the overlay goes away with the namespace.
    std::string options = "lowerdir=" + rootfs + ",upperdir=" + overlay_dir +
                          "/upper,workdir=" + overlay_dir + "/work";
    if (::mount("overlay", rootfs.c_str(), "overlay", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
      return system_error("mount overlay rootfs", rootfs);
  }
  // The rootfs must be a mount point of its own for pivot_root, and a private one.
  if (::mount(rootfs.c_str(), rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return system_error("bind rootfs", rootfs);
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return system_error("open", rootfs);
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    auto r = apply_op(plan.ops[i], root.get());
    if (!r) {
      Error e = std::move(r).error();
      e.add_context("applying " + plan.ops[i].field);
      return e;
    }
  }
  return ok();
}

Result<void> ensure_mount_target(const std::string& rootfs, const std::string& path, bool as_file) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return system_error("open", rootfs);
  TRY(open_target(root.get(), path, as_file));
  return ok();
}

Result<void> make_root_readonly() {
  if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)
    return system_error("remount read-only", "/");
  return ok();
}

}  // namespace clawcage::os
