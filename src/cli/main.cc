#include <fcntl.h>

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace clawcage::cli {
std::vector<std::string>& trailing_command() {
  static std::vector<std::string> command;
  return command;
}
void one_value_per_use(CLI::App* c) {
  for (CLI::Option* o : c->get_options()) {
    if (o->get_positional()) continue;
    if (o->get_expected_max() == 1) {
      o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    } else if (o->get_expected_max() > 1) {
      o->expected(1);
      o->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    }
  }
}
}  // namespace clawcage::cli

int main(int argc, char** argv) {
  // Started with a standard stream closed, the first fd we open would become it and reach
  // the sandbox as its stdio: hold 0-2 with /dev/null first.
  for (int fd = 0; fd < 3; ++fd)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0) return 125;
  // Installed as clawcage-runc (or clawcage-runc-TIER), the binary is the OCI runtime:
  // runc's command line, as containerd's shim and podman call it.
  std::vector<char*> args(argv, argv + argc);
  std::string name = argv[0];
  name = name.substr(name.find_last_of('/') + 1);
  static char oci[] = "oci";
  if (name.rfind("clawcage-runc", 0) == 0) {
    std::string tier = name.size() > 14 ? name.substr(14) : "";
    if (name.size() > 13 && (name[13] != '-' || tier.empty())) tier = "?";
    if (!tier.empty() && tier != "chroot" && tier != "container" && tier != "strict") {
      fprintf(stderr,
              "%s: installed name: expected clawcage-runc or clawcage-runc-TIER "
              "(chroot, container, strict)\n",
              name.c_str());
      return 125;
    }
    if (argc == 2 && (std::string(argv[1]) == "--version" || std::string(argv[1]) == "-v")) {
      printf("%s version 0.1.0 (clawcage)\nspec: 1.1.0\n", name.c_str());
      return 0;
    }
    clawcage::cli::set_runtime_name_tier(tier);
    args.insert(args.begin() + 1, oci);
  }
  argc = static_cast<int>(args.size());
  argv = args.data();
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) != "--") continue;
    for (int j = i + 1; j < argc; ++j) clawcage::cli::trailing_command().push_back(argv[j]);
    argc = i;
    break;
  }
  CLI::App app{"clawcage: a sandbox runtime for AI-agent tasks"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "clawcage 0.1.0");
  int exit_code = 0;
  clawcage::cli::add_run_command(app, exit_code);
  clawcage::cli::add_gc_command(app, exit_code);
  clawcage::cli::add_spec_command(app, exit_code);
  clawcage::cli::add_lifecycle_commands(app, exit_code);
  clawcage::cli::add_image_command(app, exit_code);
  clawcage::cli::add_audit_command(app, exit_code);
  clawcage::cli::add_top_command(app, exit_code);
  clawcage::cli::add_task_verbs(app, exit_code);
  clawcage::cli::add_daemon_command(app, exit_code);
  clawcage::cli::add_bench_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 125;
  }
  return exit_code;
}
