// Hand-made malicious layers: each attack is refused or neutralised, and nothing outside
// the target is touched (checked on the host filesystem).
#include "image/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <fstream>
#include <sstream>

#include "support/run_clawcage.h"

namespace clawcage::image {
namespace {

// Writes a tar (gzip when asked) entry by entry.
class TarBuilder {
 public:
  TarBuilder(const std::string& path, bool gzip = false) : a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_);
    if (gzip) archive_write_add_filter_gzip(a_);
    archive_write_open_filename(a_, path.c_str());
  }
  ~TarBuilder() { close(); }
  void close() {
    if (!a_) return;
    archive_write_close(a_);
    archive_write_free(a_);
    a_ = nullptr;
  }
  TarBuilder& dir(const std::string& name, mode_t mode = 0755) { return add(name, AE_IFDIR, mode); }
  TarBuilder& file(const std::string& name, const std::string& data, mode_t mode = 0644) {
    return add(name, AE_IFREG, mode, data);
  }
  TarBuilder& symlink(const std::string& name, const std::string& target) {
    return add(name, AE_IFLNK, 0777, "", target);
  }
  TarBuilder& hardlink(const std::string& name, const std::string& target) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_hardlink(e, target.c_str());
    archive_entry_set_size(e, 0);
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }
  TarBuilder& device(const std::string& name, unsigned major, unsigned minor) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFCHR);
    archive_entry_set_perm(e, 0666);
    archive_entry_set_rdevmajor(e, major);
    archive_entry_set_rdevminor(e, minor);
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }

 private:
  TarBuilder& add(const std::string& name, unsigned type, mode_t mode, const std::string& data = "",
                  const std::string& link = "") {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    if (!link.empty()) archive_entry_set_symlink(e, link.c_str());
    archive_write_header(a_, e);
    if (!data.empty()) archive_write_data(a_, data.data(), data.size());
    archive_entry_free(e);
    return *this;
  }
  archive* a_;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class LayerUnpack : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = test::make_temp_dir("unpack");
    target_ = work_ + "/rootfs";
    outside_ = work_ + "/outside";
    mkdir(target_.c_str(), 0755);
    mkdir(outside_.c_str(), 0755);
    std::ofstream(outside_ + "/secret") << "host secret\n";
  }
  void TearDown() override { test::remove_tree(work_); }
  std::string layer(const std::string& name) { return work_ + "/" + name + ".tar"; }
  bool exists(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
  }
  std::string work_, target_, outside_;
};

TEST_F(LayerUnpack, OrdinaryLayerUnpacks) {
  {
    TarBuilder t(layer("ok"), /*gzip=*/true);
    t.dir("bin")
        .file("bin/tool", "#!/bin/sh\n", 0755)
        .symlink("bin/alias", "tool")
        .hardlink("bin/copy", "bin/tool");
    t.dir("etc").file("etc/config", "k=v\n");
  }
  auto r = unpack_layer(layer("ok"), target_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(slurp(target_ + "/etc/config"), "k=v\n");
  struct stat a, b;
  ASSERT_EQ(stat((target_ + "/bin/tool").c_str(), &a), 0);
  ASSERT_EQ(stat((target_ + "/bin/copy").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_mode & 0777, 0755u);
  char buf[64] = {};
  ASSERT_GT(readlink((target_ + "/bin/alias").c_str(), buf, sizeof buf - 1), 0);
  EXPECT_STREQ(buf, "tool");
  EXPECT_EQ(r->files, 2u);
  EXPECT_EQ(r->hardlinks, 1u);
}

TEST_F(LayerUnpack, DotDotAndAbsoluteNamesAreRefused) {
  {
    TarBuilder t(layer("dotdot"));
    t.file("../outside/planted", "x");
  }
  auto r = unpack_layer(layer("dotdot"), target_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("\"..\""), std::string::npos) << r.error().message();
  EXPECT_FALSE(exists(outside_ + "/planted"));
  {
    TarBuilder t(layer("abs"));
    t.file(outside_ + "/planted2", "x");
  }
  r = unpack_layer(layer("abs"), target_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("absolute path"), std::string::npos) << r.error().message();
  EXPECT_FALSE(exists(outside_ + "/planted2"));
}

TEST_F(LayerUnpack, WritingThroughASymlinkThatPointsOutStaysInside) {
  // The link's target does not exist inside the target: refused, nothing on the host.
  {
    TarBuilder t(layer("dangling"));
    t.symlink("evil", outside_).file("evil/planted", "x");  // absolute link to a host dir
  }
  auto r = unpack_layer(layer("dangling"), target_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("evil"), std::string::npos) << r.error().message();
  EXPECT_FALSE(exists(outside_ + "/planted"));
  // It exists inside: the write lands there, never on the host.
  {
    TarBuilder t(layer("symlink"));
    t.dir("inner").symlink("in", "/inner").file("in/planted", "x");  // absolute, resolved in root
    t.symlink("up", "../../..").file("up/planted-up", "y");          // relative, climbing out
  }
  r = unpack_layer(layer("symlink"), target_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(exists(target_ + "/inner/planted"));
  EXPECT_FALSE(exists("/inner/planted"));
  EXPECT_FALSE(exists(work_ + "/planted-up"));
  EXPECT_TRUE(exists(target_ + "/planted-up"));
}

TEST_F(LayerUnpack, AFileEntryReplacesASymlinkInsteadOfWritingThroughIt) {
  {
    TarBuilder t(layer("replace"));
    t.symlink("link", outside_ + "/secret").file("link", "replaced\n");
  }
  auto r = unpack_layer(layer("replace"), target_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(slurp(outside_ + "/secret"), "host secret\n");
  EXPECT_EQ(slurp(target_ + "/link"), "replaced\n");
}

TEST_F(LayerUnpack, HardLinksCannotReachHostFiles) {
  struct stat before;
  ASSERT_EQ(stat((outside_ + "/secret").c_str(), &before), 0);
  {
    TarBuilder t(layer("hardabs"));
    t.hardlink("grab", outside_ + "/secret");
  }
  auto r = unpack_layer(layer("hardabs"), target_);
  EXPECT_FALSE(r);  // resolved inside the target, where it does not exist
  {
    TarBuilder t(layer("hardup"));
    t.hardlink("grab2", "../outside/secret");
  }
  EXPECT_FALSE(unpack_layer(layer("hardup"), target_));
  struct stat after;
  ASSERT_EQ(stat((outside_ + "/secret").c_str(), &after), 0);
  EXPECT_EQ(after.st_nlink, before.st_nlink) << "the host file gained a link";
  EXPECT_FALSE(exists(target_ + "/grab"));
  EXPECT_FALSE(exists(target_ + "/grab2"));
}

TEST_F(LayerUnpack, DevicesAreSkippedAndSetuidStrippedUnlessThePolicyKeepsThem) {
  {
    TarBuilder t(layer("dev"));
    t.device("mem", 1, 1).file("su", "binary", 04755).file("sg", "binary", 02755);
  }
  auto r = unpack_layer(layer("dev"), target_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(exists(target_ + "/mem"));
  EXPECT_EQ(r->devices_skipped, 1u);
  EXPECT_EQ(r->setuid_stripped, 2u);
  struct stat st;
  ASSERT_EQ(stat((target_ + "/su").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  std::string kept = work_ + "/kept";
  mkdir(kept.c_str(), 0755);
  UnpackPolicy keep;
  keep.keep_setuid = true;
  keep.allow_devices = true;
  r = unpack_layer(layer("dev"), kept, keep);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(stat((kept + "/su").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  ASSERT_EQ(lstat((kept + "/mem").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(LayerUnpack, WhiteoutsDeleteWhatLowerLayersPut) {
  {
    TarBuilder t(layer("lower"));
    t.dir("a").file("a/keep", "1").file("a/gone", "2").dir("o").file("o/old", "3");
  }
  {
    TarBuilder t(layer("upper"));
    t.file("a/.wh.gone", "").file("o/new", "4").file("o/.wh..wh..opq", "");
  }
  ASSERT_TRUE(unpack_layer(layer("lower"), target_));
  auto r = unpack_layer(layer("upper"), target_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(exists(target_ + "/a/keep"));
  EXPECT_FALSE(exists(target_ + "/a/gone"));
  EXPECT_FALSE(exists(target_ + "/o/old"));
  EXPECT_TRUE(exists(target_ + "/o/new"));
  EXPECT_FALSE(exists(target_ + "/a/.wh.gone"));
}

TEST_F(LayerUnpack, SizeAndCountBombsAreRefused) {
  {
    TarBuilder t(layer("big"));
    t.file("big", std::string(1 << 20, 'x'));
  }
  UnpackPolicy small;
  small.max_bytes = 1 << 16;
  auto r = unpack_layer(layer("big"), target_, small);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("more than 65536 bytes"), std::string::npos)
      << r.error().message();
  UnpackPolicy few;
  few.max_entries = 1;
  {
    TarBuilder t(layer("many"));
    t.file("a", "1").file("b", "2");
  }
  EXPECT_FALSE(unpack_layer(layer("many"), target_, few));
}

TEST_F(LayerUnpack, GarbageIsAClearError) {
  std::ofstream(layer("garbage")) << "this is not a tar archive at all, not even close.........";
  auto r = unpack_layer(layer("garbage"), target_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find(layer("garbage")), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace clawcage::image
