// SHA-256 (nettle) of bytes in memory, as lowercase hex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace clawcage {

std::string to_hex(const uint8_t* bytes, size_t n);
std::string sha256_hex(std::string_view data);

}  // namespace clawcage
