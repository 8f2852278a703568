#include "linux/seccomp.h"

#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>

#include "base/unique_fd.h"

namespace clawcage::os {
namespace {

// The kernel caps a filter's errno at MAX_ERRNO; a larger value would come back as a
// "successful" negative return.
constexpr unsigned kMaxErrno = 4095;
constexpr unsigned kMaxArgs = 6;

struct ContextDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

std::string field_at(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

// The OCI names of the architectures libseccomp 2.5 knows.
std::optional<uint32_t> arch_token(const std::string& name) {
  struct Entry {
    const char* name;
    uint32_t token;
  };
  static const Entry kArches[] = {
      {"SCMP_ARCH_X86", SCMP_ARCH_X86},
      {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
      {"SCMP_ARCH_X32", SCMP_ARCH_X32},
      {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
      {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},
      {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
      {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},
      {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
      {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
      {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
      {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32},
      {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
      {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},
      {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},
      {"SCMP_ARCH_S390", SCMP_ARCH_S390},
      {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},
      {"SCMP_ARCH_PARISC", SCMP_ARCH_PARISC},
      {"SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64},
      {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
  };
  for (const auto& e : kArches)
    if (name == e.name) return e.token;
  return std::nullopt;
}

std::optional<scmp_compare> compare_op(const std::string& name) {
  struct Entry {
    const char* name;
    scmp_compare op;
  };
  static const Entry kOps[] = {
      {"SCMP_CMP_NE", SCMP_CMP_NE},
      {"SCMP_CMP_LT", SCMP_CMP_LT},
      {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ},
      {"SCMP_CMP_GE", SCMP_CMP_GE},
      {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  for (const auto& e : kOps)
    if (name == e.name) return e.op;
  return std::nullopt;
}

// `field` names the action (".action" or "defaultAction"); `errno_field` its errnoRet.
Result<uint32_t> action_value(const std::string& name, std::optional<unsigned> errno_ret,
                              const std::string& field, const std::string& errno_field) {
  bool takes_errno = name == "SCMP_ACT_ERRNO" || name == "SCMP_ACT_TRACE";
  if (takes_errno) {
    if (errno_ret && *errno_ret > kMaxErrno)
      return invalid_field(errno_field, "errno " + std::to_string(*errno_ret) + " is above " +
                                            std::to_string(kMaxErrno));
    // runc's choice: without errnoRet both ERRNO and TRACE carry EPERM.
    unsigned code = errno_ret.value_or(EPERM);
    return name == "SCMP_ACT_ERRNO" ? SCMP_ACT_ERRNO(code) : SCMP_ACT_TRACE(code);
  }
  std::optional<uint32_t> action;
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") action = SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") action = SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") action = SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_ALLOW") action = SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_LOG") action = SCMP_ACT_LOG;
  // The listener fd needs a supervisor to answer it; without one the task would hang.
  if (name == "SCMP_ACT_NOTIFY")
    return invalid_field(field, "SCMP_ACT_NOTIFY is not supported yet");
  if (!action) return invalid_field(field, "unknown action " + (name.empty() ? "\"\"" : name));
  if (errno_ret)
    return invalid_field(errno_field, "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno");
  return *action;
}

Result<unsigned> filter_flags(const std::vector<std::string>& names) {
  unsigned flags = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (name == "SECCOMP_FILTER_FLAG_TSYNC")
      flags |= SECCOMP_FILTER_FLAG_TSYNC;
    else if (name == "SECCOMP_FILTER_FLAG_LOG")
      flags |= SECCOMP_FILTER_FLAG_LOG;
    else if (name == "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
      flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    else
      return invalid_field(field_at("linux.seccomp.flags", i), "unknown flag " + name);
  }
  return flags;
}

Error libseccomp_error(int rc, std::string operation, std::string subject, std::string detail) {
  Error e = system_error(-rc, std::move(operation), std::move(subject));
  e.detail = std::move(detail);
  return e;
}

Result<std::vector<scmp_arg_cmp>> conditions(const spec::SeccompSyscall& rule,
                                             const std::string& field) {
  std::vector<scmp_arg_cmp> out;
  for (size_t i = 0; i < rule.args.size(); ++i) {
    const spec::SeccompArg& arg = rule.args[i];
    std::string arg_field = field_at(field + ".args", i);
    if (arg.index >= kMaxArgs)
      return invalid_field(arg_field + ".index",
                           "index " + std::to_string(arg.index) + " is not below 6");
    auto op = compare_op(arg.op);
    if (!op) return invalid_field(arg_field + ".op", "unknown op " + arg.op);
    // For MASKED_EQ libseccomp reads datum_a as the mask and datum_b as the value, and
    // runc passes value then valueTwo: value is the mask.
    out.push_back(scmp_arg_cmp{arg.index, *op, arg.value, arg.value_two});
  }
  return out;
}

Result<void> add_rule(void* ctx, const spec::SeccompSyscall& rule, size_t index,
                      uint32_t default_action) {
  std::string field = field_at("linux.seccomp.syscalls", index);
  TRY_ASSIGN(uint32_t action,
             action_value(rule.action, rule.errno_ret, field + ".action", field + ".errnoRet"));
  TRY_ASSIGN(auto conds, conditions(rule, field));
  if (rule.names.empty()) return invalid_field(field + ".names", "no syscall named");
  // libseccomp refuses a rule that repeats the default action; it would change nothing.
  if (action == default_action) return ok();

  // libseccomp refuses two comparisons of one argument in a rule. runc's answer, kept
  // for compatibility: when an index repeats, every comparison becomes its own rule (an OR).
  unsigned per_index[kMaxArgs] = {};
  bool repeated = false;
  for (const auto& c : conds) repeated |= ++per_index[c.arg] > 1;

  for (const std::string& name : rule.names) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    // Unknown to this libseccomp: profiles outlive kernels, skip rather than fail.
    if (nr == __NR_SCMP_ERROR) continue;
    auto add = [&](const scmp_arg_cmp* array, unsigned count) -> Result<void> {
      int rc = seccomp_rule_add_array(ctx, action, nr, count, array);
      if (rc < 0) return libseccomp_error(rc, "add seccomp rule", field, "syscall " + name);
      return ok();
    };
    if (!repeated) {
      TRY(add(conds.data(), static_cast<unsigned>(conds.size())));
    } else {
      for (const auto& c : conds) TRY(add(&c, 1));
    }
  }
  return ok();
}

Result<std::vector<sock_filter>> export_bpf(void* ctx) {
  int raw = memfd_create("clawcage-seccomp", MFD_CLOEXEC);
  if (raw < 0) return system_error("memfd_create", "seccomp bpf");
  UniqueFd fd(raw);
  int rc = seccomp_export_bpf(ctx, fd.get());
  if (rc < 0) return libseccomp_error(rc, "seccomp_export_bpf", "linux.seccomp", "");
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return system_error("fstat", "seccomp bpf memfd");
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0 || size % sizeof(sock_filter) != 0)
    return make_error("seccomp_export_bpf", "linux.seccomp",
                      "exported " + std::to_string(size) + " bytes, not whole instructions");
  std::vector<sock_filter> program(size / sizeof(sock_filter));
  auto* out = reinterpret_cast<char*>(program.data());
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd.get(), out + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return system_error("read", "seccomp bpf memfd");
    if (n == 0) return make_error("read", "seccomp bpf memfd", "unexpected end of file");
    done += static_cast<size_t>(n);
  }
  return program;
}

}  // namespace

Result<SeccompProgram> compile_seccomp(const spec::Seccomp& profile) {
  TRY_ASSIGN(uint32_t default_action,
             action_value(profile.default_action, profile.default_errno_ret,
                          "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet"));
  TRY_ASSIGN(unsigned flags, filter_flags(profile.flags));

  Context ctx(seccomp_init(default_action));
  if (!ctx)
    return make_error("seccomp_init", "linux.seccomp", "libseccomp refused the default action");
  // clawcage sets no_new_privs itself, and load_seccomp is a raw syscall anyway; keep the
  // attribute off so the exported program means the same with or without it.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  if (rc < 0) return libseccomp_error(rc, "seccomp_attr_set", "SCMP_FLTATR_CTL_NNP", "");
  // Syscalls of an architecture the profile does not list (int 0x80 from an x86_64 task when
  // only SCMP_ARCH_X86_64 is allowed) end the whole process, not just one thread.
  rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc < 0) return libseccomp_error(rc, "seccomp_attr_set", "SCMP_FLTATR_ACT_BADARCH", "");
  // A binary tree of syscall numbers instead of a linear chain. The kernel emulates the
  // filter once per syscall number when it is loaded (the seccomp action cache), so a
  // linear 1000-instruction allowlist cost ~0.85 ms per sandbox; the tree costs a fraction.
  rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (rc < 0) return libseccomp_error(rc, "seccomp_attr_set", "SCMP_FLTATR_CTL_OPTIMIZE", "");

  for (size_t i = 0; i < profile.architectures.size(); ++i) {
    std::string field = field_at("linux.seccomp.architectures", i);
    auto token = arch_token(profile.architectures[i]);
    if (!token) return invalid_field(field, "unknown architecture " + profile.architectures[i]);
    rc = seccomp_arch_add(ctx.get(), *token);
    // The native architecture is already in the context.
    if (rc < 0 && rc != -EEXIST) return libseccomp_error(rc, "seccomp_arch_add", field, "");
  }

  for (size_t i = 0; i < profile.syscalls.size(); ++i)
    TRY(add_rule(ctx.get(), profile.syscalls[i], i, default_action));

  TRY_ASSIGN(auto instructions, export_bpf(ctx.get()));
  if (instructions.size() > BPF_MAXINSNS)
    return make_error("compile seccomp", "linux.seccomp",
                      std::to_string(instructions.size()) + " BPF instructions, the kernel takes " +
                          std::to_string(BPF_MAXINSNS));
  return SeccompProgram{std::move(instructions), flags};
}

Result<void> load_seccomp(const SeccompProgram& program) {
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(program.instructions.size());
  prog.filter = const_cast<sock_filter*>(program.instructions.data());
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, program.flags, &prog);
  if (rc == 0) return ok();
  // Only failures allocate (the Error's strings); the success path stays signal-safe.
  if (rc > 0) {
    // With TSYNC the kernel returns the id of a thread that could not be synchronized.
    Error e = system_error(ESRCH, "seccomp", "load filter");
    e.detail = "thread " + std::to_string(rc) + " could not be synchronized (TSYNC)";
    return e;
  }
  return system_error("seccomp", "load filter");
}

}  // namespace clawcage::os
