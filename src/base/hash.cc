#include "base/hash.h"

#include <nettle/sha2.h>

namespace clawcage {

std::string to_hex(const uint8_t* bytes, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  sha256_ctx ctx;
  uint8_t md[SHA256_DIGEST_SIZE];
  sha256_init(&ctx);
  sha256_update(&ctx, data.size(), reinterpret_cast<const uint8_t*>(data.data()));
  sha256_digest(&ctx, sizeof md, md);
  return to_hex(md, sizeof md);
}

}  // namespace clawcage
