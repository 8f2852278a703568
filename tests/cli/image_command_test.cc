// `clawcage image import` of an OCI layout, then `clawcage run --image` honouring its config.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "image/blob_store.h"
#include "support/oci_layout_builder.h"
#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

// Exit code of a short helper program (tar), -1 if it could not run.
int run_command(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ImageCommand, ImportThenRunHonoursTheImageConfig) {
  std::string work = make_temp_dir("imagecmd");
  auto layout = build_test_layout(
      work, "echo $GREETING from $(pwd); cat /etc/motd; test -e /bin/cat || echo no-cat");
  std::string store = work + "/store";
  auto imp = run_clawcage({"image", "import", layout.dir, "--store", store}, 60, false);
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_NE(imp.out.find("demo:1\tsha256:"), std::string::npos) << imp.out;
  auto ls = run_clawcage({"image", "ls", "--store", store}, 30, false);
  EXPECT_NE(ls.out.find("demo:1"), std::string::npos) << ls.out;

  std::string task = unique_name("image");
  auto r = run_clawcage({"run", "--task", task, "--image", "demo:1", "--store", store});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hi from /tmp\nfrom layer 1\nno-cat\n");
  // A command given on the line replaces the image's Cmd.
  r = run_clawcage({"run", "--task", unique_name("image2"), "--image", "demo:1", "--store", store,
                    "--", "/bin/echo", "mine"});
  EXPECT_EQ(r.out, "mine\n") << r.err;
  // By digest too.
  std::string digest = imp.out.substr(imp.out.find("sha256:"), 71);
  r = run_clawcage({"run", "--task", unique_name("image3"), "--image", "@" + digest, "--store",
                    store, "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  remove_tree(work);
}

TEST(ImageCommand, InspectRmPrune) {
  std::string work = make_temp_dir("imageprune");
  auto layout = build_test_layout(work, "true");
  std::string store = work + "/store";
  ASSERT_EQ(run_clawcage({"image", "import", layout.dir, "--store", store}, 60, false).exit_code,
            0);
  ASSERT_EQ(
      run_clawcage({"image", "import", layout.dir, "--name", "copy:2", "--store", store}, 60, false)
          .exit_code,
      0);
  auto inspect = run_clawcage({"image", "inspect", "demo:1", "--store", store}, 30, false);
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  auto j = nlohmann::json::parse(inspect.out);
  EXPECT_EQ(j["layers"].size(), 2u);
  EXPECT_EQ(j["config"]["workingDir"], "/tmp");
  // Run once so a rootfs cache exists.
  ASSERT_EQ(
      run_clawcage({"run", "--task", unique_name("prune"), "--image", "demo:1", "--store", store})
          .exit_code,
      0);
  // Another name still needs every blob: prune keeps them.
  ASSERT_EQ(run_clawcage({"image", "rm", "demo:1", "--store", store}, 30, false).exit_code, 0);
  auto kept = run_clawcage({"image", "prune", "--store", store}, 30, false);
  EXPECT_NE(kept.out.find("prune: 0 blobs removed"), std::string::npos) << kept.out;
  // The last name goes: everything does.
  ASSERT_EQ(run_clawcage({"image", "rm", "copy:2", "--store", store}, 30, false).exit_code, 0);
  auto gone = run_clawcage({"image", "prune", "--store", store}, 30, false);
  EXPECT_NE(gone.out.find("prune: 4 blobs removed"), std::string::npos) << gone.out;
  EXPECT_TRUE(std::filesystem::is_empty(store + "/blobs/sha256"));
  EXPECT_TRUE(std::filesystem::is_empty(store + "/rootfs"));
  auto missing = run_clawcage({"image", "rm", "copy:2", "--store", store}, 30, false);
  EXPECT_NE(missing.err.find("copy:2: no such name"), std::string::npos) << missing.err;
  remove_tree(work);
}

TEST(ImageCommand, TamperedLayoutsAndUnknownImagesAreRefused) {
  std::string work = make_temp_dir("imagebad");
  auto layout = build_test_layout(work, "true");
  // A layer blob altered in the layout: the import refuses it and names the digest.
  std::string hex = layout.layer_digests[1].substr(7);
  std::string blob = layout.dir + "/blobs/sha256/" + hex;
  chmod(blob.c_str(), 0644);
  std::ofstream(blob, std::ios::app) << "tampered";
  std::string store = work + "/store";
  auto imp = run_clawcage({"image", "import", layout.dir, "--store", store}, 60, false);
  EXPECT_NE(imp.exit_code, 0);
  EXPECT_NE(imp.err.find("digest mismatch"), std::string::npos) << imp.err;
  EXPECT_NE(imp.err.find(layout.layer_digests[1]), std::string::npos) << imp.err;
  auto r = run_clawcage({"run", "--task", unique_name("noimage"), "--image", "demo:1", "--store",
                         store, "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("demo:1"), std::string::npos) << r.err;
  remove_tree(work);
}

// An oci-archive (a tar of a layout) imports like the layout and leaves nothing in the
// store's scratch dir.
TEST(ImageCommand, OciArchiveImports) {
  std::string work = make_temp_dir("imagearchive");
  auto layout = build_test_layout(work, "echo from-archive");
  std::string archive = work + "/image.tar";
  auto tar = run_command({"tar", "-C", layout.dir, "-cf", archive, "."});
  ASSERT_EQ(tar, 0);
  std::string store = work + "/store";
  auto imp =
      run_clawcage({"image", "import", archive, "--store", store, "--name", "arch:1"}, 60, false);
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_NE(imp.out.find("arch:1\tsha256:"), std::string::npos) << imp.out;
  auto r = run_clawcage(
      {"run", "--task", unique_name("archive"), "--image", "arch:1", "--store", store});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from-archive\n");
  EXPECT_TRUE(std::filesystem::is_empty(store + "/tmp"));

  remove_tree(work);
}

// A docker-archive (docker save / podman save): converted to a layout, its layers checked
// against the config's diff_ids, then run. Members that leave the archive are refused.
TEST(ImageCommand, DockerArchiveImportsAndBadOnesAreRefused) {
  std::string work = make_temp_dir("dockerarchive");
  std::string d = work + "/archive";
  std::filesystem::create_directories(d);
  ASSERT_EQ(run_command({"tar", "-C", "/var/lib/clawcage/images/builtin/rootfs", "-cf",
                         d + "/layer.tar", "."}),
            0);
  int fd = ::open((d + "/layer.tar").c_str(), O_RDONLY | O_CLOEXEC);
  auto digest = image::sha256_of_fd(fd);
  ::close(fd);
  ASSERT_TRUE(digest);
  auto write_archive = [&](const std::string& layer_member, const std::string& diff_id) {
    nlohmann::json config = {{"architecture", "amd64"},
                             {"os", "linux"},
                             {"config", {{"Cmd", {"/bin/sh", "-c", "echo from-docker-archive"}}}},
                             {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}}};
    std::ofstream(d + "/config.json") << config.dump();
    nlohmann::json manifest = nlohmann::json::array(
        {{{"Config", "config.json"}, {"RepoTags", {"dock:1"}}, {"Layers", {layer_member}}}});
    std::ofstream(d + "/manifest.json") << manifest.dump();
    std::string tar = work + "/docker.tar";
    ::unlink(tar.c_str());
    return run_command({"tar", "-C", d, "-cf", tar, "."}) == 0 ? tar : "";
  };
  std::string store = work + "/store";
  std::string good = write_archive("layer.tar", digest->str());
  auto imp = run_clawcage({"image", "import", good, "--store", store}, 60, false);
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_NE(imp.out.find("dock:1\tsha256:"), std::string::npos) << imp.out;
  auto r = run_clawcage(
      {"run", "--task", unique_name("dockarch"), "--image", "dock:1", "--store", store});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from-docker-archive\n");

  // A layer whose content is not the config's diff_id.
  std::string wrong = write_archive("layer.tar", "sha256:" + std::string(64, 'a'));
  auto bad = run_clawcage({"image", "import", wrong, "--store", store}, 60, false);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("diff_ids"), std::string::npos) << bad.err;
  // A member path out of the archive, and a link to a host file.
  bad = run_clawcage(
      {"image", "import", write_archive("../etc/hostname", digest->str()), "--store", store}, 60,
      false);
  EXPECT_NE(bad.err.find("leaves the archive"), std::string::npos) << bad.err;
  ASSERT_EQ(symlink("/etc/hostname", (d + "/evil.tar").c_str()), 0);
  bad = run_clawcage(
      {"image", "import", write_archive("evil.tar", digest->str()), "--store", store}, 60, false);
  EXPECT_NE(bad.err.find("leads out of the archive"), std::string::npos) << bad.err;
  EXPECT_TRUE(std::filesystem::is_empty(store + "/tmp"));
  remove_tree(work);
}

}  // namespace
}  // namespace clawcage::test
