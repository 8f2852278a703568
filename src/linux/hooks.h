// Running one OCI hook (config.md, "POSIX-platform Hooks"): a child process with the
// container's state JSON on its stdin, bounded by its timeout. The same runner serves the
// runtime (prestart, createRuntime, poststart, poststop, in the runtime's namespaces) and
// the sandbox init (createContainer, startContainer, in the container's), so it uses only
// fork, pipes, poll and waitpid: the init may already run under seccomp.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace clawcage::os {

struct HookCommand {
  std::string name;  // the spec field, for messages: "hooks.createRuntime[0]"
  std::string path;
  std::vector<std::string> args;  // empty: just the path
  std::vector<std::string> env;   // the whole environment
  int timeout_s = 0;              // 0: none
};

// Runs `hook` to completion. The hook gets `state` on stdin, a pipe as stdout and stderr
// (the last 2 KiB go into a failure's message), no other fd of the caller, the default
// signal dispositions and an empty mask, and its own process group, which is SIGKILLed
// whole when the timeout expires. The hook dies with its caller (PR_SET_PDEATHSIG).
// watch_fd >= 0 is a socket whose hangup means the runtime went away: the hook is killed
// and an error returned. Fails, naming the hook, when it cannot run, exits non-zero, dies
// of a signal or times out.
Result<void> run_hook(const HookCommand& hook, const std::string& state, int watch_fd = -1);

// Runs the hooks in order; the first failure stops the rest.
Result<void> run_hooks(const std::vector<HookCommand>& hooks, const std::string& state,
                       int watch_fd = -1);

}  // namespace clawcage::os
