// Compiled seccomp programs cached on disk, keyed by the profile, the libseccomp version
// and the machine (crun's lesson: compiling takes ~8 ms here, loading
// a cached program ~20 µs). The cache dir must be root-owned and not writable by others;
// otherwise the cache is bypassed, never trusted.
#pragma once

#include <string>

#include "base/result.h"
#include "linux/seccomp.h"

namespace clawcage::os {

inline constexpr const char* kSeccompCacheDir = "/var/cache/clawcage/seccomp";

// The canonical text of a profile (plus libseccomp version and machine) and its file key.
std::string seccomp_cache_text(const spec::Seccomp& profile);
std::string seccomp_cache_key(const std::string& text);
Result<SeccompProgram> compile_seccomp_cached(const spec::Seccomp& profile,
                                              const std::string& cache_dir = kSeccompCacheDir);

}  // namespace clawcage::os
