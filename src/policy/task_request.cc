#include "policy/task_request.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "image/image_user.h"
#include "image/store.h"
#include "linux/idmap.h"
#include "policy/volume_rules.h"
#include "spec/parse.h"
#include "spec/task.h"
#include "spec/tiers/tier.h"
#include "spec/validate.h"

namespace clawcage::policy {

namespace {

std::string fld(const TaskRequest& f, const char* name) {
  return f.field_prefix + name;
}

Result<spec::Volume> parse_volume(const std::string& text, bool readonly, bool exec,
                                  const VolumeRules& rules, const std::string& field) {
  size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return invalid_field(field, "expected SRC:DST, got \"" + text + "\"");
  spec::Volume v;
  std::string rest = text.substr(colon + 1);
  size_t opt = rest.find(':');
  v.destination = rest.substr(0, opt);
  if (opt != std::string::npos) {
    std::string o = rest.substr(opt + 1);
    if (o == "exec")
      exec = true;
    else
      return invalid_field(field, "unknown volume option \"" + o + "\" (only exec)");
  }
  TRY_ASSIGN(v.source, check_volume_source(text.substr(0, colon), rules, field, !readonly));
  v.readonly = readonly;
  v.exec = readonly ? exec : true;
  return v;
}

// An absolute path for `path`, whose deepest existing ancestor has its symlinks resolved
// (the rest does not exist yet, so it cannot be a link).
std::string resolve_future_path(const std::string& path) {
  std::string abs = path;
  if (abs.empty() || abs[0] != '/') {
    char cwd[4096];
    abs = std::string(getcwd(cwd, sizeof cwd) ? cwd : ".") + "/" + path;
  }
  std::string head = abs, tail;
  while (!head.empty()) {
    char* real = realpath(head.c_str(), nullptr);
    if (real) {
      std::string out = std::string(real) + tail;
      free(real);
      return out;
    }
    size_t slash = head.find_last_of('/');
    if (slash == std::string::npos) break;
    tail = head.substr(slash) + tail;
    head = head.substr(0, slash);
  }
  return abs;
}

// The image a task names, checked before anything of it is unpacked: the manifest blob is
// re-hashed (a tampered store is caught) and, under a trust policy, its signatures are
// checked against the exact digest that will be mounted and the tier is routed.
Result<image::Descriptor> check_image(TaskRequest& f, const image::ImageStore& store,
                                      const std::optional<std::string>& requested) {
  TRY_ASSIGN(image::Descriptor manifest_desc, store.resolve_verified(f.image));
  f.image_digest = manifest_desc.digest.str();
  if (!f.trust) return manifest_desc;
  TRY_ASSIGN(image::ImageToCheck check,
             image::store_image_to_check(store, f.image, manifest_desc, fld(f, "image")));
  TRY_ASSIGN(f.trust_decision, f.trust->decide(check, requested));
  return manifest_desc;
}

// The image's rootfs (assembled from verified layers, cached by manifest digest) and its
// config as podman honours it: entrypoint + cmd when no command is given, env, workdir.
Result<void> apply_image(const TaskRequest& f, const image::ImageStore& store,
                         const image::Descriptor& manifest_desc, spec::TaskOptions& t) {
  TRY_ASSIGN(t.rootfs, store.rootfs(manifest_desc,
                                    f.trust ? f.trust->unpack_policy() : image::UnpackPolicy{}));
  TRY_ASSIGN(image::Manifest manifest, image::read_manifest(store.blobs(), manifest_desc));
  TRY_ASSIGN(image::ImageConfig config, image::read_image_config(store.blobs(), manifest.config));
  if (t.args.empty()) {
    t.args = config.entrypoint;
    t.args.insert(t.args.end(), config.cmd.begin(), config.cmd.end());
  } else if (!config.entrypoint.empty()) {
    std::vector<std::string> args = config.entrypoint;
    args.insert(args.end(), t.args.begin(), t.args.end());
    t.args = args;
  }
  t.env = config.env;
  t.cwd = config.working_dir.empty() ? "/" : config.working_dir;
  // The image's User, as podman resolves it; --user (applied later) overrides it.
  if (!config.user.empty() && f.user.empty()) {
    auto user = image::resolve_image_user(t.rootfs, config.user);
    if (!user) return std::move(user).error().add_context("resolving the image's User");
    t.uid = user->uid;
    t.gid = user->gid;
    t.additional_gids = user->groups;
  }
  return ok();
}

}  // namespace

Result<TrustDecision> check_trust(TaskRequest& f) {
  if (!f.trust) return make_error("check trust", "trust policy", "no trust policy is set");
  std::optional<std::string> requested;
  if (f.isolate_given) requested = f.isolate;
  if (f.image.empty()) return f.trust->decide(std::nullopt, requested);
  image::ImageStore store(f.store.empty() ? image::kDefaultStore : f.store);
  TRY(check_image(f, store, requested));
  return *f.trust_decision;
}

std::string trust_decision_json(const TrustDecision& d) {
  nlohmann::json verified = nlohmann::json::array();
  for (const auto& v : d.verified_by)
    verified.push_back({{"format", v.format},
                        {"key", v.key},
                        {"digest", v.manifest_digest},
                        {"identity", v.signed_identity},
                        {"key_source", v.key_source}});
  nlohmann::json j = {{"tier", d.tier}, {"why", d.explanation}, {"verified_by", verified}};
  if (!d.route.empty()) j["route"] = d.route;
  if (!d.signature_scope.empty()) j["signature_scope"] = d.signature_scope;
  return j.dump();
}

Result<std::pair<uint32_t, uint32_t>> parse_uid_gid(const std::string& text,
                                                    const std::string& field) {
  unsigned uid = 0, gid = 0;
  char extra;
  int n = text.empty() || !isdigit(static_cast<unsigned char>(text[0]))
              ? 0
              : sscanf(text.c_str(), "%u:%u%c", &uid, &gid, &extra);
  if (n == 1 && text.find(':') == std::string::npos)
    gid = uid;
  else if (n != 2)
    return invalid_field(field, "expected UID[:GID], got \"" + text + "\"");
  return std::pair<uint32_t, uint32_t>{uid, gid};
}

std::string random_task_id(const std::string& prefix) {
  unsigned char b[6];
  if (getrandom(b, sizeof b, 0) != sizeof b) return prefix + std::to_string(getpid());
  char out[16];
  snprintf(out, sizeof out, "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return prefix + out;
}

Result<bool> prepare_output(const std::string& dir, const spec::Spec& s) {
  bool created = !path_exists(dir);
  TRY(make_dirs(dir.substr(0, dir.find_last_of('/')), 0755));
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return system_error("mkdir", dir);
  uint32_t uid = s.process.user.uid, gid = s.process.user.gid;
  auto hu = os::host_id(s.linux.uid_mappings, uid);
  auto hg = os::host_id(s.linux.gid_mappings, gid);
  if (hu) uid = *hu;
  if (hg) gid = *hg;
  // Through an fd opened without following links: a component swapped for a symlink after
  // the policy check cannot make us chown somewhere else.
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(syscall(SYS_openat2, AT_FDCWD, dir.c_str(), &how, sizeof how)));
  if (!fd) return system_error("open output dir", dir);
  if (fchownat(fd.get(), "", uid, gid, AT_EMPTY_PATH) != 0) return system_error("chown", dir);
  std::string magic = "/proc/self/fd/" + std::to_string(fd.get());
  if (chmod(magic.c_str(), 0700) != 0) return system_error("chmod", dir);
  return created;
}

Result<engine::CreateOptions> build_create_options(TaskRequest& f,
                                                   std::vector<std::string>& controls,
                                                   std::string& tier_out) {
  engine::CreateOptions o;
  o.id = f.task.empty() ? random_task_id() : f.task;
  o.state_root = f.state_root;
  o.gvisor_platform = f.gvisor_platform;
  TRY(engine::check_sandbox_id(o.id));
  f.trust_decision.reset();
  f.image_digest.clear();
  std::string tier_name = f.isolate;
  std::optional<std::string> requested;
  if (f.isolate_given) requested = f.isolate;
  if (!f.trust || f.isolate_given) {
    TRY(spec::parse_tier(f.isolate));  // a bad name is refused before anything else
  }
  VolumeRules rules = f.trust ? f.trust->volume_rules() : VolumeRules{};
  rules.allowed = f.allow_host_paths;
  spec::Spec base;
  if (!f.bundle.empty()) {
    if (!f.rootfs.empty())
      return invalid_field(fld(f, "bundle"), "give either --bundle or --rootfs");
    // A bundle's config.json is the whole request: flags that would edit it are refused
    // rather than silently dropped.
    bool edits = !f.ro.empty() || !f.rw.empty() || !f.env.empty() || !f.output.empty() ||
                 !f.scratch.empty() || !f.memory.empty() || !f.cpus.empty() || f.pids ||
                 f.cpu_shares || !f.cpuset_cpus.empty() || !f.user.empty() || !f.hostname.empty() ||
                 f.cwd != "/" || f.writable_rootfs || !f.image.empty();
    if (edits)
      return invalid_field(fld(f, "bundle"),
                           "volume, limit and process flags apply to images and --rootfs; "
                           "a bundle's are in its config.json");
    TRY_ASSIGN(base, spec::load_spec_file(f.bundle + "/config.json"));
    o.bundle_dir = f.bundle;
    if (!f.command.empty()) base.process.args = f.command;
    if (!f.isolate_given) {
      auto t = base.annotations.find(spec::kTierAnnotation);
      if (t != base.annotations.end()) {
        TRY(spec::parse_tier(t->second));
        tier_name = t->second;
        requested = t->second;
      }
    }
    if (f.trust) {
      TRY_ASSIGN(f.trust_decision, f.trust->decide(std::nullopt, requested));
    }
  } else {
    spec::TaskOptions t;
    t.rootfs = f.rootfs.empty() ? kBuiltinImage : f.rootfs;
    t.args = f.command;
    if (!f.image.empty()) {
      if (!f.rootfs.empty())
        return invalid_field(fld(f, "image"), "give either --image or --rootfs");
      image::ImageStore store(f.store.empty() ? image::kDefaultStore : f.store);
      TRY_ASSIGN(image::Descriptor manifest, check_image(f, store, requested));
      TRY(apply_image(f, store, manifest, t));
    } else {
      if (f.rootfs.empty() && !path_exists(t.rootfs))
        return make_error("find built-in image", t.rootfs, "missing: run scripts/setup.sh first");
      if (f.trust) {
        TRY_ASSIGN(f.trust_decision, f.trust->decide(std::nullopt, requested));
      }
    }
    t.writable_rootfs = f.writable_rootfs;
    // Images and the built-in image are shared by every task: writes go to a per-task layer.
    t.overlay_rootfs = f.rootfs.empty();
    t.env.insert(t.env.end(), f.env.begin(), f.env.end());
    if (f.cwd != "/" || t.cwd.empty()) t.cwd = f.cwd;
    t.hostname = f.hostname.empty() ? o.id.substr(0, 63) : f.hostname;
    if (!f.user.empty()) {
      TRY_ASSIGN(auto ids, parse_uid_gid(f.user, fld(f, "user")));
      t.uid = ids.first;
      t.gid = ids.second;
    }
    for (size_t i = 0; i < f.ro.size(); ++i) {
      TRY_ASSIGN(auto v,
                 parse_volume(f.ro[i], true, f.exec_volumes, rules, fld(f, "ro") + " " + f.ro[i]));
      t.volumes.push_back(v);
    }
    for (size_t i = 0; i < f.rw.size(); ++i) {
      TRY_ASSIGN(auto v, parse_volume(f.rw[i], false, true, rules, fld(f, "rw") + " " + f.rw[i]));
      t.volumes.push_back(v);
    }
    if (!f.output.empty()) {
      std::string resolved = resolve_future_path(f.output);
      std::string why = sensitive_reason(resolved);
      if (!why.empty() && !f.output_chosen_by_daemon)
        return invalid_field(fld(f, "output"), resolved + " is " + why);
      t.output_dir = resolved;
    }
    if (!f.scratch.empty()) {
      TRY_ASSIGN(t.scratch_bytes, spec::parse_size(f.scratch, fld(f, "scratch")));
    }
    if (!f.memory.empty()) {
      TRY_ASSIGN(t.memory_bytes, spec::parse_size(f.memory, fld(f, "memory")));
    }
    t.pids = f.pids;
    if (!f.cpus.empty()) {
      char* end = nullptr;
      double c = strtod(f.cpus.c_str(), &end);
      if (end == f.cpus.c_str() || *end)
        return invalid_field(fld(f, "cpus"), "expected a number, got \"" + f.cpus + "\"");
      t.cpus = c;
    }
    t.cpu_shares = f.cpu_shares;
    t.cpuset_cpus = f.cpuset_cpus;
    TRY_ASSIGN(base, spec::build_task_spec(t));
  }
  if (f.trust_decision) tier_name = f.trust_decision->tier;
  TRY_ASSIGN(spec::Tier tier, spec::parse_tier(tier_name));
  TRY_ASSIGN(spec::TierResult tiered, spec::apply_tier(tier, std::move(base)));
  o.spec = std::move(tiered.spec);
  controls = std::move(tiered.controls);
  tier_out = spec::tier_name(tier);
  return o;
}

}  // namespace clawcage::policy
