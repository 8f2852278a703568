// An OCI image layout made by hand from the built-in busybox rootfs: found by name, read
// through the verified store, assembled into a rootfs (whiteouts included) that a sandbox
// runs; a tampered layer is refused before anything is unpacked.
#include "image/oci_layout.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/oci_layout_builder.h"
#include "support/run_clawcage.h"

namespace clawcage::image {
namespace {

class OciLayout : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = test::make_temp_dir("layout");
    auto built = test::build_test_layout(work_, "true");
    layout_ = built.dir;
    store_ = std::make_unique<BlobStore>(layout_);
    for (const auto& d : built.layer_digests) layers_.push_back({"", Digest::parse(d).value(), -1});
  }
  void TearDown() override { test::remove_tree(work_); }
  std::string work_, layout_;
  std::unique_ptr<BlobStore> store_;
  std::vector<Descriptor> layers_;
};

TEST_F(OciLayout, FoundReadAssembledAndRun) {
  auto m = find_manifest(layout_, "demo:1");
  ASSERT_TRUE(m) << m.error().message();
  auto manifest = read_manifest(*store_, *m);
  ASSERT_TRUE(manifest) << manifest.error().message();
  ASSERT_EQ(manifest->layers.size(), 2u);
  auto config = read_image_config(*store_, manifest->config);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->cmd, (std::vector<std::string>{"/bin/sh", "-c", "true"}));
  EXPECT_EQ(config->working_dir, "/tmp");
  std::string rootfs = work_ + "/rootfs";
  mkdir(rootfs.c_str(), 0755);
  auto stats = assemble_rootfs(*store_, *manifest, rootfs);
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_GE(stats->whiteouts, 1u);
  std::string task = test::unique_name("oci");
  auto r = test::run_clawcage({"run", "--task", task, "--rootfs", rootfs, "--", "/bin/sh", "-c",
                               "cat /etc/motd; test -e /bin/cat || echo cat-whited-out"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from layer 1\ncat-whited-out\n");
  EXPECT_FALSE(find_manifest(layout_, "other:2"));
}

TEST_F(OciLayout, ATamperedLayerIsRefusedBeforeUnpacking) {
  auto manifest = read_manifest(*store_, *find_manifest(layout_, "demo:1"));
  ASSERT_TRUE(manifest);
  std::string blob = store_->path(layers_[1].digest);
  chmod(blob.c_str(), 0644);
  std::ofstream(blob, std::ios::app) << "appended";
  std::string rootfs = work_ + "/rootfs2";
  mkdir(rootfs.c_str(), 0755);
  auto stats = assemble_rootfs(*store_, *manifest, rootfs);
  ASSERT_FALSE(stats);
  EXPECT_NE(stats.error().message().find("content changed"), std::string::npos)
      << stats.error().message();
  EXPECT_NE(stats.error().message().find("layer 1"), std::string::npos) << stats.error().message();
}

TEST_F(OciLayout, ManifestErrorsNameTheField) {
  nlohmann::json bad = {{"schemaVersion", 2},
                        {"config", {{"digest", "sha256:xyz"}}},
                        {"layers", nlohmann::json::array()}};
  std::ofstream(work_ + "/bad.json") << bad.dump();
  auto stored = store_->put_file(work_ + "/bad.json", std::nullopt);
  ASSERT_TRUE(stored);
  auto m =
      read_manifest(*store_, Descriptor{"application/vnd.oci.image.manifest.v1+json", *stored, -1});
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("manifest.config.digest"), std::string::npos)
      << m.error().message();
}

}  // namespace
}  // namespace clawcage::image
