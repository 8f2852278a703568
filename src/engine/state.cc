#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "engine/sandbox.h"

namespace clawcage::engine {

Result<void> Sandbox::write_state() const {
  // pid alone is racy: start times let a later reader tell our processes from reused pids.
  // The owner is the process that created the sandbox and supervises it.
  static const uint64_t owner_start = os::process_start_time(getpid()).ok()
                                          ? *os::process_start_time(getpid())
                                          : 0;
  nlohmann::json j = {{"id", id_},
                      {"owner_pid", getpid()},
                      {"owner_start_time", owner_start},
                      {"status", status_ == Status::created ? "created" : "running"}};
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

}  // namespace clawcage::engine
