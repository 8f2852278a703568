// api::Client against a fake daemon on a unix socket: status, body and headers of an answer;
// a missing daemon named by its socket; a chunked stream delivered whole; server errors.
#include "api/client.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "support/fake_daemon.h"
#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

TEST(ApiClient, RequestParsesStatusBodyAndHeaders) {
  std::string task = R"({"id":"t1","state":"queued"})";
  FakeDaemon daemon(
      {{http_answer(201, task, {"Content-Type: application/json", "X-Clawcage-Truncated: true"})}});
  api::Client client(daemon.socket_path());
  std::string body = R"({"agent":"a","command":["true"]})";
  auto r = client.request("POST", "/v1/tasks", body);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, task);
  EXPECT_EQ(r->headers["content-type"], "application/json");
  EXPECT_EQ(r->headers["x-clawcage-truncated"], "true");
  EXPECT_EQ(r->headers["content-length"], std::to_string(task.size()));

  auto seen = daemon.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/v1/tasks");
  EXPECT_EQ(seen[0].headers["content-type"], "application/json");
  EXPECT_EQ(seen[0].headers.count("expect"), 0u);
  EXPECT_EQ(seen[0].body, body);
}

TEST(ApiClient, MethodsAndQueriesReachTheServer) {
  FakeDaemon daemon({{http_answer(204, "", {})},
                     {http_answer(200, R"({"tasks":[]})")},
                     {http_answer(202, "{}")}});
  api::Client client(daemon.socket_path());
  auto d = client.request("DELETE", "/v1/tasks/t1?force=1");
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->status, 204);
  EXPECT_EQ(d->body, "");
  auto g = client.request("GET", "/v1/tasks?state=" + api::url_escape("a b&c") + "&limit=5");
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(g->status, 200);
  auto k = client.request("POST", "/v1/tasks/t1/kill");  // no body at all
  ASSERT_TRUE(k.ok()) << k.error().message();
  EXPECT_EQ(k->status, 202);

  auto seen = daemon.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].method, "DELETE");
  EXPECT_EQ(seen[0].target, "/v1/tasks/t1?force=1");
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_EQ(seen[1].target, "/v1/tasks?state=a%20b%26c&limit=5");
  EXPECT_EQ(seen[1].headers.count("content-type"), 0u);
  EXPECT_EQ(seen[2].method, "POST");
  EXPECT_EQ(seen[2].body, "");
  EXPECT_EQ(seen[2].headers.count("content-type"), 0u);
}

TEST(ApiClient, AnErrorStatusIsAResponse) {
  FakeDaemon daemon({{http_answer(404, R"({"error":"no such task: t9"})")}});
  api::Client client(daemon.socket_path());
  auto r = client.request("GET", "/v1/tasks/t9");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, R"({"error":"no such task: t9"})");
}

TEST(ApiClient, MissingSocketNamesThePathAndTheDaemon) {
  std::string dir = make_temp_dir("api-missing");
  std::string path = dir + "/api.sock";
  api::Client client(path);
  auto r = client.request("GET", "/v1/health");
  ASSERT_FALSE(r.ok());
  std::string m = r.error().message();
  EXPECT_NE(m.find("cannot reach the clawcage daemon at " + path), std::string::npos) << m;
  EXPECT_NE(m.find("No such file or directory"), std::string::npos) << m;
  EXPECT_NE(m.find("is `clawcage daemon` running?"), std::string::npos) << m;
  remove_tree(dir);
}

TEST(ApiClient, RefusedConnectionNamesThePathAndTheDaemon) {
  // A socket file nobody listens on: what a crashed daemon leaves behind.
  std::string dir = make_temp_dir("api-refused");
  std::string path = dir + "/api.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  close(fd);
  api::Client client(path);
  auto r = client.request("GET", "/v1/health");
  ASSERT_FALSE(r.ok());
  std::string m = r.error().message();
  EXPECT_EQ(m, "cannot reach the clawcage daemon at " + path +
                   ": Connection refused (is `clawcage daemon` running?)");
  auto s = client.stream("/v1/tasks/t1/logs?follow=1", [](std::string_view) { return true; });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), m);
  remove_tree(dir);
}

TEST(ApiClient, StreamDeliversEveryChunk) {
  std::string binary("out\0put\n", 8);
  FakeDaemon daemon(
      {{chunked_head(200, {"Content-Type: application/octet-stream"}), chunk("first line\n"),
        chunk(binary), chunk(std::string(100000, 'x')), chunk("last\n"), last_chunk()}});
  api::Client client(daemon.socket_path());
  std::string got;
  int calls = 0;
  std::map<std::string, std::string> headers;
  auto r = client.stream(
      "/v1/tasks/t1/logs?stream=stdout&follow=1",
      [&](std::string_view data) {
        got.append(data);
        ++calls;
        return true;
      },
      &headers);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, 200);
  EXPECT_EQ(got, "first line\n" + binary + std::string(100000, 'x') + "last\n");
  EXPECT_GE(calls, 4);  // the pieces came apart, and each was handed on as it came
  EXPECT_EQ(headers["content-type"], "application/octet-stream");
  auto seen = daemon.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/v1/tasks/t1/logs?stream=stdout&follow=1");
}

TEST(ApiClient, StreamStopsWhenAsked) {
  FakeDaemon daemon(
      {{chunked_head(200), chunk("one\n"), chunk("two\n"), chunk("three\n"), last_chunk()}});
  api::Client client(daemon.socket_path());
  std::string got;
  auto r = client.stream("/v1/tasks/t1/logs?follow=1", [&](std::string_view data) {
    got.append(data);
    return false;
  });
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, 200);
  EXPECT_EQ(got, "one\n");
}

TEST(ApiClient, StreamOfAnErrorIsAnApiError) {
  FakeDaemon daemon({{http_answer(404, R"({"error":"no such task: t2"})")}});
  api::Client client(daemon.socket_path());
  bool called = false;
  auto r = client.stream("/v1/tasks/t2/logs?follow=1", [&](std::string_view) {
    called = true;
    return true;
  });
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(called);  // the error body is not log output
  EXPECT_EQ(r.error().message(), "HTTP 404: no such task: t2");
  EXPECT_EQ(api::api_status(r.error()), 404);
}

TEST(ApiClient, DroppedConnectionIsAnError) {
  FakeDaemon daemon({{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"}});
  api::Client client(daemon.socket_path());
  auto r = client.request("GET", "/v1/tasks/t1");
  ASSERT_FALSE(r.ok());
  std::string m = r.error().message();
  EXPECT_NE(m.find("GET /v1/tasks/t1: "), std::string::npos) << m;
  EXPECT_NE(m.find("talking to the clawcage daemon at " + daemon.socket_path()), std::string::npos)
      << m;
}

TEST(ApiClient, DefaultSocket) {
  const char* old = getenv("CLAWCAGE_SOCKET");
  std::string saved = old ? old : "";
  unsetenv("CLAWCAGE_SOCKET");
  EXPECT_EQ(api::default_socket(), "/run/clawcage/api.sock");
  setenv("CLAWCAGE_SOCKET", "/tmp/x.sock", 1);
  EXPECT_EQ(api::default_socket(), "/tmp/x.sock");
  if (old)
    setenv("CLAWCAGE_SOCKET", saved.c_str(), 1);
  else
    unsetenv("CLAWCAGE_SOCKET");
}

TEST(ApiClientError, CarriesTheServerMessageAndStatus) {
  api::Response r;
  r.status = 409;
  r.body = R"({"error": "id t1 is taken by a different request"})";
  Error e = api::api_error(r);
  EXPECT_EQ(e.message(), "HTTP 409: id t1 is taken by a different request");
  EXPECT_EQ(api::api_status(e), 409);

  r.status = 429;
  r.body = R"({"error":"queue full"})";
  r.headers["retry-after"] = "5";
  EXPECT_EQ(api::api_error(r).message(), "HTTP 429: queue full (retry after 5s)");

  r.status = 502;
  r.body = "  Bad Gateway\n";
  r.headers.clear();
  EXPECT_EQ(api::api_error(r).message(), "HTTP 502: Bad Gateway");
  r.body = "";
  EXPECT_EQ(api::api_error(r).message(), "HTTP 502: the daemon gave no reason");
  EXPECT_EQ(api::api_status(system_error(ENOENT, "open", "/x")), 0);
}

TEST(ApiClientError, UrlEscape) {
  EXPECT_EQ(api::url_escape("t-1_a.b~"), "t-1_a.b~");
  EXPECT_EQ(api::url_escape("a/b?c=d&e f"), "a%2Fb%3Fc%3Dd%26e%20f");
  EXPECT_EQ(api::url_escape(std::string("\xff\x01", 2)), "%FF%01");
}

}  // namespace
}  // namespace clawcage::test
