#include <fcntl.h>

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
