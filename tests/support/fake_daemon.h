// A stand-in for `clawcage daemon` in client tests: a thread serving canned HTTP answers on a
// unix socket, one connection per answer, recording what each request sent.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace clawcage::test {

struct SeenRequest {
  std::string method, target;                  // "POST", "/v1/tasks?x=1"
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

class FakeDaemon {
 public:
  // Each answer is written in pieces, with a short pause between them (a chunked stream
  // arrives in several reads). The socket lives in a fresh temporary directory.
  explicit FakeDaemon(std::vector<std::vector<std::string>> answers);
  ~FakeDaemon();
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;

  const std::string& socket_path() const { return socket_; }
  // Waits (up to 10 s) until every answer was served, then returns the requests seen.
  std::vector<SeenRequest> requests();

 private:
  void serve();

  std::string dir_, socket_;
  int listen_fd_ = -1;
  std::vector<std::vector<std::string>> answers_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<SeenRequest> seen_;
  std::thread thread_;
};

// "HTTP/1.1 <status> X\r\n" + Content-Length + the extra header lines + body.
std::string http_answer(int status, const std::string& body,
                        const std::vector<std::string>& headers = {
                            "Content-Type: application/json"});
// The head of a chunked answer, then its chunks, then the last one.
std::string chunked_head(int status, const std::vector<std::string>& headers = {});
std::string chunk(std::string_view data);
inline std::string last_chunk() {
  return "0\r\n\r\n";
}

}  // namespace clawcage::test
