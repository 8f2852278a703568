// Runs the clawcage binary as a user would, with a bounded wait, and reads what the
// kernel holds afterwards (cgroupfs, mountinfo, /proc) for leak checks.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace clawcage::test {

struct RunOutput {
  int exit_code = -1;  // 128+N if clawcage itself died of signal N; -1 if it timed out
  std::string out, err;
  nlohmann::json record;  // the --record JSON, empty if none
};

// Runs `clawcage <args>` with a wall-clock bound (the process is killed past it).
// A --record file is added and parsed when with_record is true.
RunOutput run_clawcage(std::vector<std::string> args, int timeout_s = 60, bool with_record = true,
                       const std::string& stdin_data = "");

// Starts `clawcage <args>` in the background with stdout and stderr appended to
// output_path; returns its pid (the caller waits for it).
pid_t start_clawcage(const std::vector<std::string>& args,
                     const std::string& output_path = "/dev/null");

// Runs `command` with /bin/sh and returns its stdout (redirect stderr in the command to have
// it too) and exit code (-1 if it did not exit). Nothing it starts may keep that output open.
RunOutput run_shell(const std::string& command);
// A TCP port on 127.0.0.1 that was free a moment ago.
int free_loopback_port();

// Every directory under <hierarchy>/clawcage/ (and clawcage-root-*/) whose name contains
// `needle`, in any hierarchy.
std::vector<std::string> leftover_cgroups(const std::string& needle = "");
// mountinfo lines of this process mentioning needle.
std::vector<std::string> leftover_mounts(const std::string& needle);
// Processes whose cgroup (any hierarchy) lies under clawcage/<needle>.
std::vector<int> processes_in_sandbox_cgroups(const std::string& needle = "");
// Host pids of processes whose command line contains needle.
std::vector<int> processes_with_cmdline(const std::string& needle);
// The whole file, or "" if it cannot be read.
std::string read_text(const std::string& path);
std::string unique_name(const std::string& prefix);
std::string make_temp_dir(const std::string& prefix);
void remove_tree(const std::string& path);
std::string testcases_dir();
std::string binary();

}  // namespace clawcage::test
