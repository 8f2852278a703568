#include "image/signature.h"

#include <gtest/gtest.h>

namespace clawcage::image {
namespace {

TEST(SignaturePayload, RoundTripsAndIsStrict) {
  std::string digest = "sha256:" + std::string(64, 'b');
  auto p = parse_signature_payload(
      make_signature_payload(kSimpleSigningType, digest, "localhost/a:1"), kSimpleSigningType);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->manifest_digest, digest);
  EXPECT_EQ(p->docker_reference, "localhost/a:1");
  // The other format's type is refused: a cosign payload is not a simple signing one.
  EXPECT_FALSE(parse_signature_payload(
      make_signature_payload(kSigstorePayloadType, digest, "localhost/a:1"), kSimpleSigningType));
  for (
      const char* bad :
      {"[]", R"({"critical":{}})",
       R"({"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"x"},"identity":{"docker-reference":"y"},"extra":1}})",
       R"({"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":1},"identity":{"docker-reference":"y"}}})",
       R"({"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"x"},"identity":{"docker-reference":"y"}},"sneaky":{}})"}) {
    auto r = parse_signature_payload(bad, kSimpleSigningType);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().message().rfind("signature payload", 0), 0u);
    }
  }
}

TEST(SignatureBlob, BothFormatsRoundTrip) {
  auto legacy = parse_signature_blob("\x90openpgp-bytes");
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->format, SignatureFormat::simple_signing);
  auto prefixed = parse_signature_blob(std::string("\0simple-signing\n\x90x", 18));
  ASSERT_TRUE(prefixed);
  EXPECT_EQ(prefixed->openpgp, "\x90x");
  SignatureBlob s;
  s.format = SignatureFormat::sigstore;
  s.mime_type = kSigstoreMimeType;
  s.payload = std::string("p\0ayload", 8);
  s.annotations[kSigstoreSignatureAnnotation] = "c2ln";
  std::string bytes = serialize_signature_blob(s);
  EXPECT_EQ(bytes.rfind(std::string("\0sigstore-json\n{", 16), 0), 0u);
  auto back = parse_signature_blob(bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->payload, s.payload);
  EXPECT_EQ(back->annotations, s.annotations);
  EXPECT_FALSE(parse_signature_blob(std::string("\0unknown\n{}", 11)));
  EXPECT_FALSE(parse_signature_blob(""));
}

TEST(Base64, RoundTripsEveryLengthAndRefusesGarbage) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n < 10; ++n) {
    auto back = base64_decode(base64_encode(all.substr(0, n)), "x");
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, all.substr(0, n));
  }
  EXPECT_EQ(base64_encode("abc"), "YWJj");
  EXPECT_FALSE(base64_decode("a$b=", "x"));
  EXPECT_FALSE(base64_decode("YQ==YQ", "x"));
}

}  // namespace
}  // namespace clawcage::image
