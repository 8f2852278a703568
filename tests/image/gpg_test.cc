#include "image/gpg.h"

#include <gtest/gtest.h>

#include "support/real_images.h"
#include "support/run_clawcage.h"

namespace clawcage::image {
namespace {

class Gpg : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = test::make_temp_dir("gpg");
    signer_ = test::make_gpg_key(work_, "signer");
    stranger_ = test::make_gpg_key(work_, "stranger");
  }
  static void TearDownTestSuite() {
    test::stop_gpg_agent(signer_);
    test::stop_gpg_agent(stranger_);
    test::remove_tree(work_);
  }
  static inline std::string work_;
  static inline test::GpgKey signer_, stranger_;
};

// A verification is cached by (message, keyrings): a cached success never lets the same
// message pass under other keys, and a changed message is checked afresh.
TEST_F(Gpg, SignVerifyAndTheCacheKeepsKeysApart) {
  ASSERT_FALSE(signer_.fingerprint.empty());
  ASSERT_FALSE(stranger_.fingerprint.empty());
  auto msg = gpg_sign("payload", signer_.fingerprint, signer_.home);
  ASSERT_TRUE(msg) << msg.error().message();
  std::string keyring = test::read_text(signer_.keyring);
  std::string other = test::read_text(stranger_.keyring);
  for (int i = 0; i < 2; ++i) {
    auto v = gpg_verify(*msg, {keyring});
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ(v->fingerprint, signer_.fingerprint);
    EXPECT_EQ(v->plaintext, "payload");
    auto wrong = gpg_verify(*msg, {other});
    ASSERT_FALSE(wrong);
    EXPECT_NE(wrong.error().message().find("does not trust"), std::string::npos)
        << wrong.error().message();
  }
  // Both keyrings given: accepted, by the signer's key.
  auto both = gpg_verify(*msg, {other, keyring});
  ASSERT_TRUE(both);
  EXPECT_EQ(both->fingerprint, signer_.fingerprint);
  // The message is compressed: one flipped bit may land in unused deflate bits and change
  // nothing. Sixteen zeroed bytes in the middle always change what it carries.
  std::string tampered = *msg;
  ASSERT_GT(tampered.size(), 64u);
  for (size_t i = 0; i < 16; ++i) tampered[tampered.size() / 2 - 8 + i] = '\0';
  EXPECT_FALSE(gpg_verify(tampered, {keyring}));
  EXPECT_FALSE(gpg_verify(*msg, {}));
  // A secret key that is not there.
  auto none = gpg_sign("x", stranger_.fingerprint, signer_.home);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find(stranger_.fingerprint), std::string::npos);
}

}  // namespace
}  // namespace clawcage::image
