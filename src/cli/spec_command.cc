// clawcage spec: prints the spec a tier produces for a command, for review or for a bundle.
#include <iostream>

#include "cli/commands.h"
#include "spec/parse.h"
#include "spec/task.h"
#include "spec/tiers/tier.h"

namespace clawcage::cli {

void add_spec_command(CLI::App& app, int& exit_code) {
  auto isolate = std::make_shared<std::string>("container");
  auto rootfs = std::make_shared<std::string>("rootfs");
  auto command = std::make_shared<std::vector<std::string>>();
  CLI::App* c = app.add_subcommand("spec", "print the config.json a tier produces");
  c->add_option("--isolate", *isolate, "tier: chroot, container or strict");
  c->add_option("--rootfs", *rootfs, "root.path to write (default rootfs)");
  c->add_option("command", *command, "command (default /bin/sh)");
  c->callback([=, &exit_code]() {
    for (const auto& a : trailing_command()) command->push_back(a);
    spec::TaskOptions t;
    t.rootfs = *rootfs;
    t.args = command->empty() ? std::vector<std::string>{"/bin/sh"} : *command;
    auto base = spec::build_task_spec(t);
    auto tier = spec::parse_tier(*isolate);
    if (!tier || !base) {
      std::cerr << "clawcage spec: " << (tier ? base.error() : tier.error()).message() << "\n";
      exit_code = 125;
      return;
    }
    auto out = spec::apply_tier(*tier, std::move(base).value());
    if (!out) {
      std::cerr << "clawcage spec: " << out.error().message() << "\n";
      exit_code = 125;
      return;
    }
    std::cout << spec::to_json(out->spec) << "\n";
  });
}

}  // namespace clawcage::cli
