// Fuzz target for the layer unpacker. Built with clang -fsanitize=fuzzer it is a libFuzzer
// target (cmake -DCLAWCAGE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++); otherwise
// layer_unpack_fuzz_main.cc drives it over seeds and seeded random mutations in CI.
// The property: whatever the bytes, unpacking returns (no crash) and writes nothing outside
// its target.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "image/layer_unpack.h"

namespace {

int count_entries(const std::string& dir) {
  int n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.' || (e->d_name[1] && (e->d_name[1] != '.' || e->d_name[2]))) ++n;
    closedir(d);
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  char tmpl[] = "/tmp/clawcage-fuzz-XXXXXX";
  char* work = mkdtemp(tmpl);
  if (!work) return 0;
  std::string layer = std::string(work) + "/layer.tar";
  std::string target = std::string(work) + "/rootfs";
  mkdir(target.c_str(), 0755);
  if (FILE* f = fopen(layer.c_str(), "wb")) {
    fwrite(data, 1, size, f);
    fclose(f);
  }
  clawcage::image::UnpackPolicy policy;
  policy.max_bytes = 1 << 20;
  policy.max_entries = 1000;
  (void)clawcage::image::unpack_layer(layer, target, policy);
  // Only the layer file and the target may be in the work dir.
  if (count_entries(work) != 2) abort();
  std::error_code ec;
  std::filesystem::remove_all(work, ec);
  return 0;
}
