// Seccomp from the OCI/Docker JSON format, compiled with libseccomp in the parent and
// loaded in the sandbox init as the last step before exec.
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include "base/result.h"
#include "spec/spec.h"

namespace clawcage::os {

struct SeccompProgram {
  std::vector<sock_filter> instructions;
  unsigned flags = 0;  // SECCOMP_FILTER_FLAG_* from spec.linux.seccomp.flags
};

// Compiles for the native architecture (plus the listed ones). Unknown syscall names are
// skipped (a profile written for a newer kernel still loads), unknown actions and ops are
// errors naming the field.
Result<SeccompProgram> compile_seccomp(const spec::Seccomp& profile);
// Loads a compiled program into the calling thread. Async-signal-safe: no allocation,
// usable in the sandbox init right before exec. Needs no_new_privs or CAP_SYS_ADMIN.
Result<void> load_seccomp(const SeccompProgram& program);

}  // namespace clawcage::os
