// Docker-style image references ("busybox", "localhost/agent:1", "reg:5000/ns/x@sha256:…")
// in the fully expanded form containers-policy.json and simple signing use
// ("docker.io/library/busybox:latest"), with the policy scopes a reference falls under.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace clawcage::image {

struct DockerReference {
  std::string domain;  // "docker.io", "localhost", "reg.example.com:5000"
  std::string path;    // "library/busybox"
  std::string tag;     // may be empty when digest is set
  std::string digest;  // "sha256:<hex>" or empty
  std::string repository() const { return domain + "/" + path; }
  // "docker.io/library/busybox:latest" (tag and digest both when both are set).
  std::string str() const;
  bool operator==(const DockerReference&) const = default;
};

// Parses and normalises: a missing domain is docker.io (single names get library/), a
// missing tag is "latest" unless a digest is given or `default_tag` is false (a signed
// identity may name a repository only); `field` names the input in errors.
Result<DockerReference> parse_docker_reference(const std::string& text,
                                               const std::string& field = "reference",
                                               bool default_tag = true);
// A repository only ("docker.io/library/busybox"): no tag, no digest allowed.
Result<DockerReference> parse_docker_repository(const std::string& text,
                                                const std::string& field = "repository");
// The scopes of containers-policy.json's docker transport that cover `ref`, most specific
// first: the full reference, the repository, each parent namespace, the host, then
// wildcard hosts ("*.example.com").
std::vector<std::string> docker_policy_scopes(const DockerReference& ref);
// The scopes of the dir: transport for an absolute, clean path: the path, then each parent
// directory except "/".
std::vector<std::string> dir_policy_scopes(const std::string& path);

}  // namespace clawcage::image
