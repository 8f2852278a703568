// Small file helpers used by every layer: whole-file reads and writes with errors that
// name the path.
#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace clawcage {

Result<UniqueFd> open_file(const std::string& path, int flags, int mode = 0);
Result<std::string> read_file(const std::string& path);
Result<std::string> read_fd(int fd);
// One write(2) of the whole string (cgroup and /proc files need a single write).
Result<void> write_file(const std::string& path, const std::string& data);
Result<void> write_file_at(int dirfd, const std::string& name, const std::string& data,
                           const std::string& shown_path);
// Creates or truncates a regular file and writes data to it.
Result<void> create_file(const std::string& path, const std::string& data, int mode = 0644);
// mkdir -p; mode applies to created directories.
Result<void> make_dirs(const std::string& path, int mode = 0755);
bool path_exists(const std::string& path);
// rm -rf that neither follows symlinks nor crosses mounts; best effort.
void remove_tree(const std::string& path);
std::string trim(const std::string& s);
// The absolute, symlink-free directory holding `file` (for paths relative to a config file).
std::string base_dir_of(const std::string& file);

}  // namespace clawcage
