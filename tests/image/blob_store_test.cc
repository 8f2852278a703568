#include "image/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <fstream>

#include "support/run_clawcage.h"

namespace clawcage::image {
namespace {

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = test::make_temp_dir("blobs");
    store_ = std::make_unique<BlobStore>(work_ + "/store");
    ASSERT_TRUE(store_->init());
    std::ofstream(work_ + "/hello") << "hello\n";
  }
  void TearDown() override { test::remove_tree(work_); }
  int entries(const std::string& dir) {
    int n = 0;
    if (DIR* d = opendir(dir.c_str())) {
      while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') ++n;
      closedir(d);
    }
    return n;
  }
  std::string work_;
  std::unique_ptr<BlobStore> store_;
  // sha256("hello\n"), as sha256sum prints it.
  const std::string kHello =
      "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
};

TEST_F(BlobStoreTest, StoresUnderItsDigest) {
  auto d = store_->put_file(work_ + "/hello", std::nullopt);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->str(), kHello);
  EXPECT_TRUE(store_->has(*d));
  EXPECT_TRUE(store_->verify(*d));
  EXPECT_EQ(store_->list().size(), 1u);
  // Again, with the digest given: a no-op that succeeds.
  auto again = store_->put_file(work_ + "/hello", Digest::parse(kHello).value());
  ASSERT_TRUE(again);
  EXPECT_EQ(entries(work_ + "/store/tmp"), 0);
}

TEST_F(BlobStoreTest, AWrongDigestIsRefusedAndLeavesNothing) {
  auto wrong = Digest::parse("sha256:" + std::string(64, '0'));
  ASSERT_TRUE(wrong);
  auto d = store_->put_file(work_ + "/hello", *wrong);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("digest mismatch: expected sha256:000"), std::string::npos)
      << d.error().message();
  EXPECT_NE(d.error().message().find(kHello), std::string::npos);
  EXPECT_EQ(entries(work_ + "/store/blobs/sha256"), 0);
  EXPECT_EQ(entries(work_ + "/store/tmp"), 0);
}

TEST_F(BlobStoreTest, TamperingWithAStoredBlobIsCaught) {
  auto d = store_->put_file(work_ + "/hello", std::nullopt);
  ASSERT_TRUE(d);
  std::string path = store_->path(*d);
  chmod(path.c_str(), 0644);
  std::ofstream(path) << "evil\n";
  auto v = store_->verify(*d);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message().find("content changed"), std::string::npos) << v.error().message();
  EXPECT_TRUE(store_->remove(*d));
  EXPECT_FALSE(store_->has(*d));
}

TEST_F(BlobStoreTest, DigestsAreParsedStrictly) {
  EXPECT_TRUE(Digest::parse(kHello));
  EXPECT_EQ(Digest::parse("md5:abc", "manifest.layers[0].digest").error().message(),
            "manifest.layers[0].digest: unsupported digest algorithm \"md5\" (sha256 only)");
  EXPECT_FALSE(Digest::parse("sha256:ABC"));
  EXPECT_FALSE(Digest::parse("sha256:" + std::string(64, 'g')));
  EXPECT_FALSE(Digest::parse("nocolon"));
  // A digest cannot name a path outside the store.
  EXPECT_FALSE(Digest::parse("sha256:../../../../etc/passwd"));
}

TEST_F(BlobStoreTest, SizeLimit) {
  auto d = store_->put_file(work_ + "/hello", std::nullopt, 3);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("larger than 3 bytes"), std::string::npos);
  EXPECT_EQ(entries(work_ + "/store/tmp"), 0);
}

}  // namespace
}  // namespace clawcage::image
