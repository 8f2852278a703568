// Builds an OCI image layout by hand from the built-in busybox rootfs, for tests: layer 0 is
// the rootfs (tar+gzip), layer 1 adds /etc/motd and whites out /bin/cat.
#pragma once

#include <string>
#include <vector>

namespace clawcage::test {

struct TestLayout {
  std::string dir;  // the layout directory
  std::vector<std::string> layer_digests;
};

// Config: Cmd ["/bin/sh","-c",cmd], Env ["GREETING=hi"], WorkingDir /tmp; ref name "demo:1".
TestLayout build_test_layout(const std::string& work, const std::string& cmd);

}  // namespace clawcage::test
