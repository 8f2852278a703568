// `clawcage daemon` as a child process of the test, with everything it owns kept apart from
// every other daemon: its own root dir (/tmp/clawcaged-test-<pid>-<n>: socket, data dir,
// run dir, log), and its own cgroup parent (clawcaged-test-<pid>-<n>). It can be stopped,
// SIGKILLed and started again on the same dirs (restart reconciliation), its kernel-side
// leftovers listed, and it tears everything down when it goes.
//
// While one exists the test process is a child subreaper, so the sandbox inits of a daemon
// it killed are reparented to the test (not to pid 1, which may reap late) and are reaped
// by leftovers() and teardown(): a test that kills a daemon leaves no zombie behind.
#pragma once

#include <sys/types.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/client.h"

namespace clawcage::test {

class DaemonProcess {
 public:
  DaemonProcess();
  ~DaemonProcess();  // teardown()
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  const std::string& root() const { return root_; }
  std::string socket_path() const { return root_ + "/api.sock"; }
  std::string data_dir() const { return root_ + "/data"; }
  std::string run_dir() const { return root_ + "/run"; }
  std::string log_path() const { return root_ + "/daemon.log"; }
  std::string audit_log() const { return root_ + "/audit.jsonl"; }
  const std::string& cgroup_parent() const { return parent_; }

  // Arguments after the built-in ones (--volume ..., --config ...), and NAME=VALUE pairs
  // added to the daemon's environment; both apply from the next start().
  std::vector<std::string> extra_args;
  std::vector<std::string> extra_env;
  // Writes root/config.json and passes it with --config.
  void write_config(const std::string& json);

  // Starts the daemon and waits (bounded, polling every 10 ms) until its socket accepts a
  // connection from this daemon (SO_PEERCRED: not an older listener on the same path);
  // fails with the daemon's log when it exits first or does not answer in time.
  ::testing::AssertionResult start(int timeout_ms = 10000);
  // SIGTERM and a bounded wait; SIGKILL past it (and a failure).
  ::testing::AssertionResult stop(int timeout_ms = 10000);
  // SIGKILL and reap.
  void kill9();
  // Waits (bounded) for the daemon to exit by itself; true with its wait status when it did.
  bool wait_exit(int timeout_ms, int* wait_status = nullptr);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  api::Client client() const { return api::Client(socket_path()); }
  std::string log() const;

  // What this daemon left in the kernel and its run dir: task cgroups under its parent in
  // any hierarchy, entries of run/sandboxes, processes in its cgroups, mounts naming its
  // root. Empty when there is nothing. Reaps the orphaned sandbox processes that ended
  // (reap_orphans) first.
  std::vector<std::string> leftovers();

  // Kills the daemon, every process in its cgroups, removes its cgroups (tasks, then the
  // parents) and its root dir. Idempotent; the destructor calls it.
  void teardown();

 private:
  std::vector<std::string> hierarchy_parents() const;
  // While a DaemonProcess exists the test process is a child subreaper: sandbox inits of a
  // daemon that died are reparented to it. This reaps those that ended (zombies in this
  // daemon's cgroups), and only those.
  void reap_orphans();

  std::string root_;
  std::string parent_;
  pid_t pid_ = -1;
  std::string exit_note_;  // how the daemon ended when it did so by itself
  bool torn_down_ = false;
};

// The pid of the process listening on a unix socket (SO_PEERCRED), 0 when none accepts.
pid_t socket_listener_pid(const std::string& path);

// "a, b, c" for failure messages.
std::string join_lines(const std::vector<std::string>& lines);

}  // namespace clawcage::test
