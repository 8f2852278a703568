// deploy/kubernetes: the RuntimeClass manifests parse and name valid handlers (PyYAML), and
// containerd itself (Debian's, unpacked by scripts/setup.sh) loads the runtime snippet and
// binds each handler to clawcage-runc-TIER through the runc shim; each of those installed
// names is one the binary accepts.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

const std::string kDir = std::string(CLAWCAGE_SOURCE_DIR) + "/deploy/kubernetes";
const std::string kContainerd = "/var/cache/clawcage/tools/containerd/usr/bin/containerd";

int run(const std::string& command, std::string& out) {
  RunOutput r = run_shell("timeout 60 " + command + " 2>&1");
  out = r.out;
  return r.exit_code;
}

TEST(DeployKubernetes, RuntimeClassesAndContainerdRuntimesMatch) {
  // The manifests: RuntimeClass node.k8s.io/v1, DNS-label names and handlers.
  std::string script =
      "import sys, re, yaml\n"
      "label = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')\n"
      "for d in yaml.safe_load_all(open(sys.argv[1])):\n"
      "    assert d['apiVersion'] == 'node.k8s.io/v1', d\n"
      "    assert d['kind'] == 'RuntimeClass', d\n"
      "    assert label.match(d['metadata']['name']), d\n"
      "    assert label.match(d['handler']), d\n"
      "    assert set(d) <= {'apiVersion', 'kind', 'metadata', 'handler', 'overhead', "
      "'scheduling'}, d\n"
      "    print(d['handler'])\n";
  std::string out;
  ASSERT_EQ(run("/usr/bin/python3 -c \"" + script + "\" " + kDir + "/runtimeclasses.yaml", out), 0)
      << out;
  std::set<std::string> handlers;
  {
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) handlers.insert(l);
  }
  const std::set<std::string> tiers = {"chroot", "container", "strict"};
  ASSERT_EQ(handlers.size(), tiers.size()) << out;

  // containerd loads the snippet; each handler is a runc-shim runtime running clawcage.
  ASSERT_EQ(access(kContainerd.c_str(), X_OK), 0) << kContainerd << ": run scripts/setup.sh";
  std::string dump;
  ASSERT_EQ(run(kContainerd + " --config " + kDir + "/containerd-clawcage.toml config dump", dump),
            0)
      << dump;
  for (const auto& tier : tiers) {
    std::string handler = "clawcage-" + tier;
    EXPECT_TRUE(handlers.count(handler)) << handler;
    std::string head = "containerd.runtimes." + handler + "]";
    size_t at = dump.find(head);
    ASSERT_NE(at, std::string::npos) << handler << " is not a containerd runtime:\n" << dump;
    std::string block =
        dump.substr(at, dump.find("containerd.runtimes.", at + head.size() + 40) - at);
    EXPECT_NE(block.find("runtime_type = \"io.containerd.runc.v2\""), std::string::npos) << block;
    std::string binary_name = "/usr/local/bin/clawcage-runc-" + tier;
    EXPECT_NE(dump.find("BinaryName = \"" + binary_name + "\""), std::string::npos) << handler;
    // The installed name is one the binary accepts (and takes its tier from).
    std::string dir = make_temp_dir("k8s");
    std::string name = dir + "/clawcage-runc-" + tier;
    ASSERT_EQ(symlink(binary().c_str(), name.c_str()), 0);
    EXPECT_EQ(run(name + " --version", out), 0) << out;
    EXPECT_NE(out.find("clawcage-runc-" + tier + " version"), std::string::npos) << out;
    remove_tree(dir);
  }
}

}  // namespace
}  // namespace clawcage::test
