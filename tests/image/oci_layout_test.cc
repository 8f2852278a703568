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

#include "support/run_clawcage.h"

namespace clawcage::image {
namespace {

int run_tool(std::vector<std::string> args) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Descriptor put(const BlobStore& store, const std::string& path, const std::string& type) {
  auto d = store.put_file(path, std::nullopt);
  EXPECT_TRUE(d) << d.error().message();
  struct stat st;
  stat(path.c_str(), &st);
  return {type, *d, static_cast<int64_t>(st.st_size)};
}

nlohmann::json desc(const Descriptor& d) {
  return {{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
}

class OciLayout : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = test::make_temp_dir("layout");
    layout_ = work_ + "/layout";
    store_ = std::make_unique<BlobStore>(layout_);
    ASSERT_TRUE(store_->init());
    // Layer 0: the busybox rootfs. Layer 1: a new file and a whiteout of /bin/cat.
    ASSERT_EQ(run_tool({"tar", "-C", "/var/lib/clawcage/images/builtin/rootfs", "-czf",
                        work_ + "/l0.tar.gz", "."}),
              0);
    ASSERT_EQ(run_tool({"mkdir", "-p", work_ + "/l1/etc", work_ + "/l1/bin"}), 0);
    std::ofstream(work_ + "/l1/etc/motd") << "from layer 1\n";
    std::ofstream(work_ + "/l1/bin/.wh.cat") << "";
    ASSERT_EQ(run_tool({"tar", "-C", work_ + "/l1", "-cf", work_ + "/l1.tar", "."}), 0);
    layers_ = {put(*store_, work_ + "/l0.tar.gz", "application/vnd.oci.image.layer.v1.tar+gzip"),
               put(*store_, work_ + "/l1.tar", "application/vnd.oci.image.layer.v1.tar")};
    nlohmann::json config = {
        {"architecture", "amd64"},
        {"os", "linux"},
        {"config", {{"Cmd", {"/bin/sh"}}, {"Env", {"GREETING=hi"}}, {"WorkingDir", "/tmp"}}}};
    std::ofstream(work_ + "/config.json") << config.dump();
    auto cfg = put(*store_, work_ + "/config.json", "application/vnd.oci.image.config.v1+json");
    nlohmann::json manifest = {{"schemaVersion", 2},
                               {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                               {"config", desc(cfg)},
                               {"layers", {desc(layers_[0]), desc(layers_[1])}}};
    std::ofstream(work_ + "/manifest.json") << manifest.dump();
    auto m = put(*store_, work_ + "/manifest.json", "application/vnd.oci.image.manifest.v1+json");
    nlohmann::json index = {{"schemaVersion", 2}, {"manifests", {desc(m)}}};
    index["manifests"][0]["annotations"] = {{"org.opencontainers.image.ref.name", "demo:1"}};
    std::ofstream(layout_ + "/index.json") << index.dump();
    std::ofstream(layout_ + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
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
  EXPECT_EQ(config->cmd, std::vector<std::string>{"/bin/sh"});
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
  auto d = put(*store_, work_ + "/bad.json", "application/vnd.oci.image.manifest.v1+json");
  auto m = read_manifest(*store_, d);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("manifest.config.digest"), std::string::npos)
      << m.error().message();
}

}  // namespace
}  // namespace clawcage::image
