#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "engine/sandbox.h"
#include "linux/process.h"

namespace clawcage::engine {

Result<void> Sandbox::write_state() const {
  // pid alone is racy: start times let a later reader tell our processes from reused pids.
  // The owner is the process that created the sandbox and supervises it.
  static const uint64_t owner_start =
      os::process_start_time(getpid()).ok() ? *os::process_start_time(getpid()) : 0;
  nlohmann::json j = {{"id", id_},
                      {"bundle", bundle_},
                      {"annotations", annotations_},
                      {"detached", detached_},
                      {"owner_pid", getpid()},
                      {"owner_start_time", owner_start},
                      {"status", status_ == Status::created ? "created" : "running"}};
  if (runsc_) j["runsc"] = runsc_->binary;
  if (init_.pid() > 0) {
    TRY_ASSIGN(uint64_t start_time, os::process_start_time(init_.pid()));
    j["pid"] = init_.pid();
    j["start_time"] = start_time;
  } else {
    j["status"] = "creating";
  }
  std::string tmp = state_dir_ + "/state.json.tmp";
  TRY_ASSIGN(UniqueFd fd, open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  std::string text = j.dump();
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return system_error("write", tmp);
  if (::rename(tmp.c_str(), (state_dir_ + "/state.json").c_str()) != 0)
    return system_error("rename", tmp);
  return ok();
}

namespace {

bool process_matches(const nlohmann::json& j, const char* pid_key, const char* start_key) {
  if (!j.contains(pid_key) || !j.contains(start_key)) return false;
  return os::process_alive(j[pid_key].get<pid_t>(), j[start_key].get<uint64_t>());
}

}  // namespace

Result<SandboxState> load_state(const std::string& state_root, const std::string& id) {
  TRY(check_sandbox_id(id));
  std::string dir = state_root + "/" + id;
  auto text = read_file(dir + "/state.json");
  if (!text) {
    if (text.error().code == ENOENT) return make_error("find sandbox", id, "no such sandbox");
    return std::move(text).error();
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error("parse", dir + "/state.json", "malformed");
  SandboxState st;
  st.id = id;
  st.bundle = j.value("bundle", "");
  st.runsc = j.value("runsc", "");
  if (j.contains("annotations") && j["annotations"].is_object())
    for (auto it = j["annotations"].begin(); it != j["annotations"].end(); ++it)
      if (it.value().is_string()) st.annotations[it.key()] = it.value().get<std::string>();
  // Liveness from the kernel: pid plus start time, never the pid alone.
  if (process_matches(j, "pid", "start_time")) {
    st.pid = j["pid"].get<pid_t>();
    st.status = path_exists(dir + "/exec.fifo") ? "created" : "running";
  } else if (j.value("status", "") == "creating" &&
             process_matches(j, "owner_pid", "owner_start_time")) {
    st.status = "creating";
  } else {
    st.status = "stopped";
  }
  return st;
}

std::string state_to_json(const SandboxState& s) {
  nlohmann::json j = {{"ociVersion", "1.0.2"}, {"id", s.id},
                      {"status", s.status},    {"pid", s.pid},
                      {"bundle", s.bundle},    {"annotations", s.annotations}};
  return j.dump(2);
}

}  // namespace clawcage::engine
