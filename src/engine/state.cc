#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "engine/sandbox.h"

namespace clawcage::engine {

Result<void> Sandbox::write_state() const {
  // pid alone is racy: the start time lets a later reader tell our init from a reused pid.
  TRY_ASSIGN(uint64_t start_time, os::process_start_time(init_.pid()));
  nlohmann::json j = {{"id", id_},
                      {"pid", init_.pid()},
                      {"start_time", start_time},
                      {"status", status_ == Status::created ? "created" : "running"}};
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
