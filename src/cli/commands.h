// The clawcage command's verbs. Each returns the process exit code.
#pragma once

#include <CLI/CLI.hpp>

#include "policy/task_request.h"

namespace clawcage::cli {

void add_run_command(CLI::App& app, int& exit_code);
void add_gc_command(CLI::App& app, int& exit_code);
void add_spec_command(CLI::App& app, int& exit_code);
void add_lifecycle_commands(CLI::App& app, int& exit_code);
// The cgroup parent of an OCI state root: "clawcage" for the default /run/clawcage (gc's
// without --root), "clawcage-root-<8 hex of its SHA-256>" for any other.
std::string oci_cgroup_parent(const std::string& root);
// Installed as clawcage-runc-TIER, the runtime refuses bundles that ask for a weaker tier.
void set_runtime_name_tier(const std::string& tier);
void add_image_command(CLI::App& app, int& exit_code);
// image sign | verify (src/cli/image_trust.cc).
void add_image_trust_commands(CLI::App* image, int& exit_code);
void add_audit_command(CLI::App& app, int& exit_code);
// submit, ps, logs, wait, cancel, rm: clients of `clawcage daemon` (src/api/client.h).
void add_task_verbs(CLI::App& app, int& exit_code);
void add_daemon_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);
void add_top_command(CLI::App& app, int& exit_code);
// --socket for the daemon's clients (default $CLAWCAGE_SOCKET, else /run/clawcage/api.sock).
CLI::Option* add_socket_option(CLI::App* command, std::string& socket);
// "42s", "7m", "3h", "2d".
std::string human_age(double seconds);

// Everything after the first "--" on the command line: the task's command. main() splits
// it off before CLI11 parses (CLI11 2.1 mis-parses "--" right after a list option).
std::vector<std::string>& trailing_command();
// Like docker: a repeated scalar flag takes its last value; a list flag takes one value per
// use (--ro A --ro B), so it never swallows the "--" before the command.
void one_value_per_use(CLI::App* command);

using policy::kBuiltinImage;
using policy::kStateRoot;

}  // namespace clawcage::cli
