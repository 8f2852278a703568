// The typed parent/child channel of one sandbox: a SOCK_SEQPACKET socketpair carrying one
// message per packet. Every wait names what it expects and polls the child's pidfd and a
// deadline beside the socket, so a dead child is an error, never a hang.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace clawcage::os {

enum class SyncMessage : uint8_t {
  go = 1,        // parent → child: cgroups placed, start containing
  userns_ready,  // child → parent: unshared its user namespace, write the id maps
  maps_written,  // parent → child
  ready,         // child → parent: contained, waiting for start
  start,         // parent → child: exec now
  error,         // child → parent: payload is an Error (errno, operation, subject, detail)
  pid,           // exec helper → parent: code is the exec'd process's pid
  mounts_ready,  // child → parent: namespaces and mounts made, before pivot_root (hooks)
  hook_state,    // parent → child: prestart/createRuntime ran; text is the state JSON
};

const char* sync_message_name(SyncMessage m);

struct SyncPacket {
  SyncMessage type = SyncMessage::error;
  int code = 0;
  std::string text;  // error: "operation\nsubject\ndetail"
};

class SyncChannel {
 public:
  static Result<std::pair<SyncChannel, SyncChannel>> make_pair();
  SyncChannel() = default;
  explicit SyncChannel(UniqueFd fd) : fd_(std::move(fd)) {}

  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

  Result<void> send(SyncMessage type) const;
  // A message with a number (SyncMessage::pid).
  Result<void> send(SyncMessage type, int code) const;
  // A message with a number and a text (SyncMessage::hook_state; at most 60 KiB).
  Result<void> send(SyncMessage type, int code, const std::string& text) const;
  // Child side: reports an error to the parent (best effort).
  void send_error(const Error& error) const;
  // Waits for `expected`. An error packet from the child becomes that Error ("in sandbox
  // init"); EOF, child death (watch_pidfd readable) or timeout become errors naming what
  // was awaited. watch_pidfd may be -1. timeout_ms < 0 waits forever.
  Result<SyncPacket> expect(SyncMessage expected, int watch_pidfd, int timeout_ms) const;
  // Waits for the peer to close (exec succeeded: the CLOEXEC end went away). An error
  // packet instead means exec failed.
  Result<void> expect_eof(int watch_pidfd, int timeout_ms) const;

 private:
  Result<SyncPacket> receive(const char* awaited, int watch_pidfd, int timeout_ms,
                             bool eof_ok) const;
  UniqueFd fd_;
};

}  // namespace clawcage::os
