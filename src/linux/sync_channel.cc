#include "linux/sync_channel.h"

#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <cstring>

#include "base/time_format.h"

namespace clawcage::os {

namespace {

// The largest packet a receiver takes (a hook_state's JSON; errors are shorter).
constexpr size_t kMaxPacket = 61440;

// One received packet: a type byte, and for errors a 4-byte errno and the text.
SyncPacket decode(const char* buf, ssize_t got) {
  SyncPacket p;
  p.type = static_cast<SyncMessage>(buf[0]);
  if (got >= 5) {
    std::memcpy(&p.code, buf + 1, sizeof p.code);
    p.text.assign(buf + 5, static_cast<size_t>(got - 5));
  }
  return p;
}

}  // namespace

const char* sync_message_name(SyncMessage m) {
  switch (m) {
    case SyncMessage::go:
      return "go";
    case SyncMessage::userns_ready:
      return "userns-ready";
    case SyncMessage::maps_written:
      return "maps-written";
    case SyncMessage::ready:
      return "ready";
    case SyncMessage::start:
      return "start";
    case SyncMessage::error:
      return "error";
    case SyncMessage::pid:
      return "pid";
    case SyncMessage::mounts_ready:
      return "mounts-ready";
    case SyncMessage::hook_state:
      return "hook-state";
  }
  return "unknown";
}

Result<std::pair<SyncChannel, SyncChannel>> SyncChannel::make_pair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    return system_error("socketpair", "sandbox sync channel");
  return std::pair{SyncChannel(UniqueFd(fds[0])), SyncChannel(UniqueFd(fds[1]))};
}

Result<void> SyncChannel::send(SyncMessage type) const {
  uint8_t b = static_cast<uint8_t>(type);
  for (;;) {
    if (::send(fd_.get(), &b, 1, MSG_NOSIGNAL) == 1) return ok();
    if (errno == EINTR) continue;
    return system_error("send", std::string("sync message ") + sync_message_name(type));
  }
}

Result<void> SyncChannel::send(SyncMessage type, int code) const {
  char buf[5];
  buf[0] = static_cast<char>(type);
  std::memcpy(buf + 1, &code, sizeof code);
  for (;;) {
    if (::send(fd_.get(), buf, sizeof buf, MSG_NOSIGNAL) == sizeof buf) return ok();
    if (errno == EINTR) continue;
    return system_error("send", std::string("sync message ") + sync_message_name(type));
  }
}

Result<void> SyncChannel::send(SyncMessage type, int code, const std::string& text) const {
  if (text.size() > kMaxPacket - 5)
    return make_error("send", std::string("sync message ") + sync_message_name(type),
                      "text of " + std::to_string(text.size()) + " bytes is too long");
  std::string buf(5, '\0');
  buf[0] = static_cast<char>(type);
  std::memcpy(buf.data() + 1, &code, sizeof code);
  buf += text;
  for (;;) {
    if (::send(fd_.get(), buf.data(), buf.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(buf.size()))
      return ok();
    if (errno == EINTR) continue;
    return system_error("send", std::string("sync message ") + sync_message_name(type));
  }
}

void SyncChannel::send_error(const Error& error) const {
  // Layout: type byte, 4-byte errno, then "operation\nsubject\ndetail\ncontext...".
  char buf[4096];
  buf[0] = static_cast<char>(SyncMessage::error);
  int code = error.code;
  std::memcpy(buf + 1, &code, sizeof code);
  std::string text = error.operation + "\n" + error.subject + "\n" + error.detail;
  for (const auto& c : error.context) text += "\n" + c;
  size_t n = std::min(text.size(), sizeof buf - 5);
  std::memcpy(buf + 5, text.data(), n);
  (void)::send(fd_.get(), buf, 5 + n, MSG_NOSIGNAL);
}

Result<SyncPacket> SyncChannel::receive(const char* awaited, int watch_pidfd, int timeout_ms,
                                        bool eof_ok) const {
  int64_t deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
  for (;;) {
    pollfd fds[2] = {{fd_.get(), POLLIN, 0}, {watch_pidfd, POLLIN, 0}};
    int wait = -1;
    if (deadline >= 0) {
      int64_t left = deadline - monotonic_ms();
      if (left <= 0)
        return make_error("wait", std::string("sandbox init message \"") + awaited + "\"",
                          "timed out after " + std::to_string(timeout_ms) + " ms");
      wait = static_cast<int>(left);
    }
    int n = poll(fds, watch_pidfd >= 0 ? 2 : 1, wait);
    if (n < 0) {
      if (errno == EINTR) continue;
      return system_error("poll", "sandbox sync channel");
    }
    if (n == 0) continue;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      std::string storage(kMaxPacket, '\0');
      char* buf = storage.data();
      ssize_t got = recv(fd_.get(), buf, kMaxPacket, MSG_DONTWAIT);
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return system_error("recv", "sandbox sync channel");
      }
      if (got == 0) {
        if (eof_ok) return SyncPacket{SyncMessage::start, 0, ""};
        return make_error("wait", std::string("sandbox init message \"") + awaited + "\"",
                          "the sandbox init closed the channel (it died)");
      }
      return decode(buf, got);
    }
    if (watch_pidfd >= 0 && (fds[1].revents & POLLIN)) {
      // The child exited; drain a last error packet it may have sent first.
      char buf[4096];
      ssize_t got = recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (got > 0) return decode(buf, got);
      if (eof_ok) return SyncPacket{SyncMessage::start, 0, ""};
      return make_error("wait", std::string("sandbox init message \"") + awaited + "\"",
                        "the sandbox init exited");
    }
  }
}

static Error packet_error(const SyncPacket& p) {
  Error e;
  e.code = p.code;
  size_t a = p.text.find('\n');
  size_t b = a == std::string::npos ? std::string::npos : p.text.find('\n', a + 1);
  e.operation = p.text.substr(0, a);
  if (a != std::string::npos)
    e.subject = p.text.substr(a + 1, b == std::string::npos ? b : b - a - 1);
  if (b != std::string::npos) {
    std::string rest = p.text.substr(b + 1);
    size_t c = rest.find('\n');
    e.detail = rest.substr(0, c);
    while (c != std::string::npos) {
      size_t next = rest.find('\n', c + 1);
      e.context.push_back(rest.substr(c + 1, next == std::string::npos ? next : next - c - 1));
      c = next;
    }
  }
  e.add_context("in sandbox init");
  return e;
}

Result<SyncPacket> SyncChannel::expect(SyncMessage expected, int watch_pidfd,
                                       int timeout_ms) const {
  TRY_ASSIGN(SyncPacket p, receive(sync_message_name(expected), watch_pidfd, timeout_ms, false));
  if (p.type == SyncMessage::error) return packet_error(p);
  if (p.type != expected)
    return make_error("wait", "sandbox sync channel",
                      std::string("expected \"") + sync_message_name(expected) + "\", got \"" +
                          sync_message_name(p.type) + "\"");
  return p;
}

Result<void> SyncChannel::expect_eof(int watch_pidfd, int timeout_ms) const {
  TRY_ASSIGN(SyncPacket p, receive("exec", watch_pidfd, timeout_ms, true));
  if (p.type == SyncMessage::error) return packet_error(p);
  if (p.type != SyncMessage::start)
    return make_error("wait", "sandbox sync channel",
                      std::string("expected exec, got \"") + sync_message_name(p.type) + "\"");
  return ok();
}

}  // namespace clawcage::os
