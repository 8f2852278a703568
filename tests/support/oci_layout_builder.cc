#include "support/oci_layout_builder.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "image/blob_store.h"

namespace clawcage::test {

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

nlohmann::json put(const image::BlobStore& store, const std::string& path,
                   const std::string& type) {
  auto d = store.put_file(path, std::nullopt);
  struct stat st;
  stat(path.c_str(), &st);
  return {{"mediaType", type}, {"digest", d ? d->str() : ""}, {"size", st.st_size}};
}

}  // namespace

TestLayout build_test_layout(const std::string& work, const std::string& cmd) {
  TestLayout out;
  out.dir = work + "/layout";
  image::BlobStore store(out.dir);
  (void)store.init();
  run_tool(
      {"tar", "-C", "/var/lib/clawcage/images/builtin/rootfs", "-czf", work + "/l0.tar.gz", "."});
  run_tool({"mkdir", "-p", work + "/l1/etc", work + "/l1/bin"});
  std::ofstream(work + "/l1/etc/motd") << "from layer 1\n";
  std::ofstream(work + "/l1/bin/.wh.cat") << "";
  run_tool({"tar", "-C", work + "/l1", "-cf", work + "/l1.tar", "."});
  auto l0 = put(store, work + "/l0.tar.gz", "application/vnd.oci.image.layer.v1.tar+gzip");
  auto l1 = put(store, work + "/l1.tar", "application/vnd.oci.image.layer.v1.tar");
  out.layer_digests = {l0["digest"], l1["digest"]};
  nlohmann::json config = {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"config",
       {{"Cmd", {"/bin/sh", "-c", cmd}}, {"Env", {"GREETING=hi"}}, {"WorkingDir", "/tmp"}}}};
  std::ofstream(work + "/config.json") << config.dump();
  auto cfg = put(store, work + "/config.json", "application/vnd.oci.image.config.v1+json");
  nlohmann::json manifest = {{"schemaVersion", 2},
                             {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"config", cfg},
                             {"layers", {l0, l1}}};
  std::ofstream(work + "/manifest.json") << manifest.dump();
  auto m = put(store, work + "/manifest.json", "application/vnd.oci.image.manifest.v1+json");
  m["annotations"] = {{"org.opencontainers.image.ref.name", "demo:1"}};
  nlohmann::json index = {{"schemaVersion", 2}, {"manifests", {m}}};
  std::ofstream(out.dir + "/index.json") << index.dump();
  std::ofstream(out.dir + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  return out;
}

}  // namespace clawcage::test
