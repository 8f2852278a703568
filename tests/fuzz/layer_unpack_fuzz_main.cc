// Runs the fuzz target without libFuzzer: every seed layer, then seeded random mutations of
// them (bounded count, fixed seed, so a failure reproduces). Prints a closing count line.
#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// A small layer with every entry kind, attacks included, as seed bytes.
std::vector<uint8_t> seed(bool gzip) {
  std::vector<uint8_t> out(1 << 16);
  size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_open_memory(a, out.data(), out.size(), &used);
  auto add = [&](const char* name, unsigned type, const char* data, const char* link, bool hard) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    if (hard) {
      archive_entry_set_hardlink(e, link);
    } else {
      archive_entry_set_filetype(e, type);
      archive_entry_set_perm(e, 04755);
      if (link) archive_entry_set_symlink(e, link);
    }
    size_t n = data ? std::char_traits<char>::length(data) : 0;
    archive_entry_set_size(e, static_cast<la_int64_t>(n));
    archive_write_header(a, e);
    if (n) archive_write_data(a, data, n);
    archive_entry_free(e);
  };
  add("dir", AE_IFDIR, nullptr, nullptr, false);
  add("dir/file", AE_IFREG, "hello", nullptr, false);
  add("dir/link", AE_IFLNK, nullptr, "/etc", false);
  add("dir/hard", 0, nullptr, "dir/file", true);
  add("../escape", AE_IFREG, "x", nullptr, false);
  add("dir/.wh.file", AE_IFREG, nullptr, nullptr, false);
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 2000;
  std::mt19937 rng(20261123);
  std::vector<std::vector<uint8_t>> seeds = {seed(false), seed(true)};
  int runs = 0;
  for (auto& s : seeds) {
    LLVMFuzzerTestOneInput(s.data(), s.size());
    ++runs;
  }
  for (int i = 0; i < rounds; ++i) {
    std::vector<uint8_t> input = seeds[static_cast<size_t>(i) % seeds.size()];
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips && !input.empty(); ++f) {
      size_t at = rng() % input.size();
      switch (rng() % 3) {
        case 0:
          input[at] = static_cast<uint8_t>(rng());
          break;
        case 1:
          input.erase(input.begin() + static_cast<long>(at));
          break;
        default:
          input.insert(input.begin() + static_cast<long>(at), static_cast<uint8_t>(rng()));
          break;
      }
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
    ++runs;
  }
  std::printf("%d passed, 0 failed\n", runs);
  return 0;
}
