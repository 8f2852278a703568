// Images from the real tools, signatures made by skopeo, gpg and openssl, and the trust
// policy, end to end through `clawcage image import|sign|verify` and `clawcage run`.
#include <unistd.h>

#include <gtest/gtest.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "image/signature.h"
#include "support/real_images.h"
#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

class ImageTrust : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = make_temp_dir("imagetrust");
    std::string log;
    layout_ = build_umoci_image(work_, "echo hello from the image", &log);
    ASSERT_FALSE(layout_.empty()) << log;
    internal_ = make_gpg_key(work_, "internal");
    other_ = make_gpg_key(work_, "other");
    ASSERT_FALSE(internal_.fingerprint.empty());
    ASSERT_FALSE(other_.fingerprint.empty());
    ASSERT_TRUE(make_ec_key(work_, "plugins"));
    ASSERT_TRUE(make_ec_key(work_, "rogue"));
    accept_all_ = write_accept_all_policy(work_);
  }
  static void TearDownTestSuite() {
    stop_gpg_agent(internal_);
    stop_gpg_agent(other_);
    remove_tree(work_);
  }

  // A dir: copy of the image, signed by `key` (nullptr: unsigned) for `identity`.
  static std::string signed_dir(const std::string& name, const GpgKey* key,
                                const std::string& identity = "localhost/agent:1") {
    std::string dir = work_ + "/" + name;
    std::string flags =
        key ? "--sign-by " + key->fingerprint + " --sign-identity " + identity : std::string();
    std::string log;
    int rc = skopeo_copy(accept_all_, flags, "oci:" + layout_ + ":agent", "dir:" + dir, &log,
                         key ? key->home : "");
    EXPECT_EQ(rc, 0) << log;
    return dir;
  }

  // containers-policy.json: dir: images must be signed by `keyring` for localhost/agent:1;
  // store images under localhost/agent by the same key (default identity rule).
  static std::string gpg_policy(const std::string& keyring) {
    std::string p = work_ + "/policy-" + std::to_string(++policies_) + ".json";
    nlohmann::json req = {{"type", "signedBy"}, {"keyType", "GPGKeys"}, {"keyPath", keyring}};
    nlohmann::json dir_req = req;
    dir_req["signedIdentity"] = {{"type", "exactReference"},
                                 {"dockerReference", "localhost/agent:1"}};
    nlohmann::json j = {
        {"default", {{{"type", "reject"}}}},
        {"transports", {{"dir", {{"", {dir_req}}}}, {"docker", {{"localhost/agent", {req}}}}}}};
    write(p, j.dump(2));
    return p;
  }

  // Whether skopeo and clawcage accept a dir: image under one policy.
  static std::pair<bool, bool> verdicts(const std::string& policy, const std::string& dir) {
    std::string copy = work_ + "/copy-" + std::to_string(++policies_);
    bool skopeo = skopeo_copy(policy, "", "dir:" + dir, "dir:" + copy) == 0;
    remove_tree(copy);
    auto v = run_clawcage({"image", "verify", "--policy", policy, "dir:" + dir}, 60, false);
    EXPECT_TRUE(v.exit_code == 0 || v.exit_code == 1) << v.err;
    return {skopeo, v.exit_code == 0};
  }

  static std::string trust_file(const nlohmann::json& j) {
    std::string p = work_ + "/trust-" + std::to_string(++policies_) + ".json";
    write(p, j.dump(2));
    return p;
  }

  static inline std::string work_, layout_, accept_all_;
  static inline GpgKey internal_, other_;
  static inline int policies_ = 0;
};

void expect_nothing_left(const std::string& task) {
  EXPECT_TRUE(leftover_cgroups(task).empty()) << task;
  EXPECT_FALSE(std::filesystem::exists("/run/clawcage/" + task)) << task;
  EXPECT_TRUE(leftover_mounts(task).empty()) << task;
}

TEST_F(ImageTrust, ImportsWhatUmociSkopeoAndPodmanWriteAndRunsEach) {
  std::string store = work_ + "/store-kinds";
  std::string log;
  struct Kind {
    std::string source, name;
  };
  std::vector<Kind> kinds = {{layout_, "localhost/umoci:1"}};
  std::string oci_archive = work_ + "/agent-oci.tar", docker_archive = work_ + "/agent-docker.tar";
  ASSERT_EQ(
      skopeo_copy(accept_all_, "", "oci:" + layout_ + ":agent", "oci-archive:" + oci_archive, &log),
      0)
      << log;
  kinds.push_back({oci_archive, "localhost/oci-archive:1"});
  ASSERT_EQ(skopeo_copy(accept_all_, "", "oci:" + layout_ + ":agent",
                        "docker-archive:" + docker_archive + ":localhost/docker:1", &log),
            0)
      << log;
  kinds.push_back({docker_archive, "localhost/docker-archive:1"});
  kinds.push_back({"dir:" + signed_dir("kinds-dir", nullptr), "localhost/dir:1"});
  // podman names an image from an oci: path; a docker-archive carries its own name.
  std::string saved =
      podman_save(work_, "docker-archive:" + docker_archive, "localhost/saved:1", &log);
  ASSERT_FALSE(saved.empty()) << log;
  kinds.push_back({saved, "localhost/podman:1"});
  for (const auto& k : kinds) {
    auto imp =
        run_clawcage({"image", "import", k.source, "--name", k.name, "--store", store}, 60, false);
    ASSERT_EQ(imp.exit_code, 0) << k.source << ": " << imp.err;
    std::string task = unique_name("kind");
    auto r = run_clawcage({"run", "--task", task, "--image", k.name, "--store", store});
    EXPECT_EQ(r.exit_code, 0) << k.source << ": " << r.err;
    EXPECT_EQ(r.out, "hello from the image\n") << k.source;
    expect_nothing_left(task);
  }
}

// Each signature case, with skopeo's verdict beside clawcage's on the same policy and image.
TEST_F(ImageTrust, SignatureCasesAgreeWithSkopeoAndRefusedImagesStartNothing) {
  std::string policy = gpg_policy(internal_.keyring);
  std::string good = signed_dir("good", &internal_);
  ASSERT_TRUE(std::filesystem::exists(good + "/signature-1"));
  std::string wrong_key = signed_dir("wrong-key", &other_);
  std::string unsigned_dir = signed_dir("unsigned", nullptr);
  std::string wrong_identity = signed_dir("wrong-identity", &internal_, "localhost/other:1");
  // A manifest edited after signing (whitespace: the same content, another digest).
  std::string tampered_manifest = work_ + "/tampered-manifest";
  std::filesystem::copy(good, tampered_manifest);
  { std::ofstream(tampered_manifest + "/manifest.json", std::ios::app) << "\n"; }
  // A layer blob edited after signing.
  std::string tampered_blob = work_ + "/tampered-blob";
  std::filesystem::copy(good, tampered_blob);
  for (const auto& e : std::filesystem::directory_iterator(tampered_blob)) {
    std::string n = e.path().filename();
    if (n.size() == 64 && std::filesystem::file_size(e.path()) > 100000)
      std::ofstream(e.path(), std::ios::app) << "x";
  }

  struct Case {
    std::string name, dir;
    bool accepted;
  };
  std::vector<Case> cases = {{"signed by the trusted key", good, true},
                             {"signed by another key", wrong_key, false},
                             {"unsigned", unsigned_dir, false},
                             {"identity mismatch", wrong_identity, false},
                             {"tampered manifest", tampered_manifest, false},
                             {"tampered blob", tampered_blob, false}};
  for (const auto& c : cases) {
    auto [skopeo, clawcage] = verdicts(policy, c.dir);
    EXPECT_EQ(skopeo, c.accepted) << c.name << ": skopeo";
    EXPECT_EQ(clawcage, c.accepted) << c.name << ": clawcage";
  }

  // The same images in the store, run under a trust policy whose signature policy is that
  // file: only the good one starts; the others are refused with the reason and leave nothing.
  std::string store = work_ + "/store-cases";
  std::string trust = trust_file(
      {{"signaturePolicy", policy}, {"routes", {{{"name", "any"}, {"tier", "container"}}}}});
  struct Expect {
    std::string dir, why;
  };
  std::vector<Expect> refused = {{wrong_key, "does not trust"},
                                 {unsigned_dir, "has none"},
                                 {wrong_identity, "identity mismatch"},
                                 {tampered_manifest, "is not the image's"}};
  auto imp = run_clawcage(
      {"image", "import", "dir:" + good, "--name", "localhost/agent:1", "--store", store}, 60,
      false);
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  std::string task = unique_name("signed");
  auto ok = run_clawcage({"run", "--task", task, "--trust-policy", trust, "--image",
                          "localhost/agent:1", "--store", store});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "hello from the image\n");
  ASSERT_TRUE(ok.record.contains("trust")) << ok.record.dump();
  EXPECT_EQ(ok.record["trust"]["verified_by"][0]["key"], internal_.fingerprint);
  EXPECT_EQ(ok.record["trust"]["verified_by"][0]["digest"], ok.record["image_digest"]);
  expect_nothing_left(task);
  // Each in a store of its own: signatures attach to a manifest digest, and most of these
  // images share the good one's.
  for (size_t i = 0; i < refused.size(); ++i) {
    std::string own = store + "-" + std::to_string(i);
    imp = run_clawcage(
        {"image", "import", "dir:" + refused[i].dir, "--name", "localhost/agent:1", "--store", own},
        60, false);
    ASSERT_EQ(imp.exit_code, 0) << imp.err;
    task = unique_name("refused");
    auto r = run_clawcage({"run", "--task", task, "--trust-policy", trust, "--image",
                           "localhost/agent:1", "--store", own});
    EXPECT_EQ(r.exit_code, 125) << refused[i].dir;
    EXPECT_NE(r.err.find(refused[i].why), std::string::npos) << refused[i].dir << ": " << r.err;
    EXPECT_EQ(r.out, "");
    expect_nothing_left(task);
  }
  // Checks run in throwaway GnuPG homes and start no gpg-agent.
  EXPECT_TRUE(processes_with_cmdline("clawcage-gpg-").empty());
  EXPECT_TRUE(run_shell("ls -d /tmp/clawcage-gpg-* 2>/dev/null").out.empty());
  // The tampered blob never enters a store.
  imp = run_clawcage({"image", "import", "dir:" + tampered_blob, "--name", "localhost/agent:9",
                      "--store", store + "-blob"},
                     60, false);
  EXPECT_NE(imp.exit_code, 0);
  EXPECT_NE(imp.err.find("digest"), std::string::npos) << imp.err;
  // Re-tagging a signed, cached image under a name it was not signed for is refused.
  imp = run_clawcage(
      {"image", "import", "dir:" + good, "--name", "localhost/agent-evil:1", "--store", store}, 60,
      false);
  ASSERT_EQ(imp.exit_code, 0);
  std::string evil_trust = trust_file(
      {{"routes",
        {{{"name", "internal"},
          {"tier", "container"},
          {"requirements",
           {{{"type", "signedBy"}, {"keyType", "GPGKeys"}, {"keyPath", internal_.keyring}}}}}}}});
  task = unique_name("retag");
  auto r = run_clawcage({"run", "--task", task, "--trust-policy", evil_trust, "--image",
                         "localhost/agent-evil:1", "--store", store});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("no route admits"), std::string::npos) << r.err;
  expect_nothing_left(task);
  // A blob changed in the store after import is caught when the rootfs is assembled.
  std::string manifest_hex = ok.record["image_digest"].get<std::string>().substr(7);
  std::string manifest_path = store + "/blobs/sha256/" + manifest_hex;
  { std::ofstream(manifest_path, std::ios::app) << " "; }
  task = unique_name("storetamper");
  r = run_clawcage({"run", "--task", task, "--trust-policy", trust, "--image", "localhost/agent:1",
                    "--store", store});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("content changed"), std::string::npos) << "store tamper: " << r.err;
  expect_nothing_left(task);
}

// The sigstore format, with vectors signed by the openssl CLI (Debian's skopeo has sigstore
// disabled, so it cannot make or check them), and clawcage's own signatures checked by it.
TEST_F(ImageTrust, SigstoreSignaturesMadeByOpensslVerifyAndOursVerifyWithOpenssl) {
  std::string dir = signed_dir("sigstore", nullptr);
  auto digest = run_shell("sha256sum " + dir + "/manifest.json | cut -c1-64");
  ASSERT_EQ(digest.exit_code, 0);
  std::string manifest_digest = "sha256:" + digest.out.substr(0, 64);
  std::string payload = image::make_signature_payload(image::kSigstorePayloadType, manifest_digest,
                                                      "localhost/plugin:1");
  write(work_ + "/payload.json", payload);
  ASSERT_EQ(run_shell("openssl dgst -sha256 -sign " + work_ + "/plugins.pem -out " + work_ +
                      "/payload.sig " + work_ + "/payload.json")
                .exit_code,
            0);
  image::SignatureBlob blob;
  blob.format = image::SignatureFormat::sigstore;
  blob.mime_type = image::kSigstoreMimeType;
  blob.payload = payload;
  blob.annotations[image::kSigstoreSignatureAnnotation] =
      image::base64_encode(read_text(work_ + "/payload.sig"));
  write(dir + "/signature-1", image::serialize_signature_blob(blob));

  auto policy_for = [&](const std::string& pub) {
    std::string p = work_ + "/sigstore-policy-" + std::to_string(++policies_) + ".json";
    nlohmann::json j = {
        {"default", {{{"type", "reject"}}}},
        {"transports",
         {{"dir",
           {{"",
             {{{"type", "sigstoreSigned"},
               {"keyPath", pub},
               {"signedIdentity",
                {{"type", "exactRepository"}, {"dockerRepository", "localhost/plugin"}}}}}}}}}}};
    write(p, j.dump());
    return p;
  };
  auto v = run_clawcage(
      {"image", "verify", "--policy", policy_for(work_ + "/plugins.pub"), "dir:" + dir}, 60, false);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  v = run_clawcage({"image", "verify", "--policy", policy_for(work_ + "/rogue.pub"), "dir:" + dir},
                   60, false);
  EXPECT_EQ(v.exit_code, 1) << v.out;
  EXPECT_NE(v.out.find("does not verify"), std::string::npos) << v.out;
  // A payload changed after signing.
  blob.payload = image::make_signature_payload(image::kSigstorePayloadType, manifest_digest,
                                               "localhost/plugin:2");
  write(dir + "/signature-1", image::serialize_signature_blob(blob));
  v = run_clawcage(
      {"image", "verify", "--policy", policy_for(work_ + "/plugins.pub"), "dir:" + dir}, 60, false);
  EXPECT_EQ(v.exit_code, 1) << v.out;

  // clawcage image sign --sigstore-key, checked by openssl.
  std::filesystem::remove(dir + "/signature-1");
  auto s = run_clawcage({"image", "sign", "--sigstore-key", work_ + "/plugins.pem", "--identity",
                         "localhost/plugin:1", "dir:" + dir},
                        60, false);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  std::string ours = read_text(dir + "/signature-1");
  auto parsed = image::parse_signature_blob(ours);
  ASSERT_TRUE(parsed) << parsed.error().message();
  write(work_ + "/ours.payload", parsed->payload);
  auto der = image::base64_decode(parsed->annotations[image::kSigstoreSignatureAnnotation], "sig");
  ASSERT_TRUE(der);
  write(work_ + "/ours.sig", *der);
  auto check = run_shell("openssl dgst -sha256 -verify " + work_ + "/plugins.pub -signature " +
                         work_ + "/ours.sig " + work_ + "/ours.payload 2>&1");
  EXPECT_EQ(check.exit_code, 0) << check.out;
  EXPECT_NE(check.out.find("Verified OK"), std::string::npos);
}

// clawcage image sign with a GPG key makes a signature skopeo accepts.
TEST_F(ImageTrust, GpgSignaturesMadeByClawcageAreAcceptedBySkopeo) {
  std::string dir = signed_dir("ours-gpg", nullptr);
  auto s = run_shell("GNUPGHOME=" + internal_.home + " " + binary() + " image sign --sign-by " +
                     internal_.fingerprint + " --identity localhost/agent:1 dir:" + dir + " 2>&1");
  ASSERT_EQ(s.exit_code, 0) << s.out;
  auto [skopeo, clawcage] = verdicts(gpg_policy(internal_.keyring), dir);
  EXPECT_TRUE(skopeo);
  EXPECT_TRUE(clawcage);
  auto [skopeo2, clawcage2] = verdicts(gpg_policy(other_.keyring), dir);
  EXPECT_FALSE(skopeo2);
  EXPECT_FALSE(clawcage2);
}

TEST_F(ImageTrust, TrustPolicyRoutesTiersAndGuardsVolumes) {
  std::string store = work_ + "/store-routes";
  // internal: GPG-signed image; plugin: sigstore-signed one (signed by clawcage image sign).
  ASSERT_EQ(run_clawcage({"image", "import", "dir:" + signed_dir("route-internal", &internal_),
                          "--name", "localhost/agent:1", "--store", store},
                         60, false)
                .exit_code,
            0);
  ASSERT_EQ(run_clawcage({"image", "import", "dir:" + signed_dir("route-plugin", nullptr), "--name",
                          "localhost/plugin:1", "--store", store},
                         60, false)
                .exit_code,
            0);
  auto s = run_clawcage({"image", "sign", "--sigstore-key", work_ + "/plugins.pem", "--store",
                         store, "localhost/plugin:1"},
                        60, false);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  std::string inputs = work_ + "/inputs", out_ok = work_ + "/writable";
  std::filesystem::create_directories(inputs + "/.env.d");
  std::filesystem::create_directories(out_ok);
  std::filesystem::permissions(out_ok, std::filesystem::perms::all);
  std::string trust = trust_file({{"routes",
                                   {{{"name", "internal"},
                                     {"tier", "container"},
                                     {"requirements",
                                      {{{"type", "signedBy"},
                                        {"keyType", "GPGKeys"},
                                        {"keyPath", internal_.keyring},
                                        {"signedIdentity", {{"type", "matchRepository"}}}}}}},
                                    {{"name", "plugins"},
                                     {"tier", "strict"},
                                     {"requirements",
                                      {{{"type", "sigstoreSigned"},
                                        {"keyPath", work_ + "/plugins.pub"},
                                        {"signedIdentity", {{"type", "matchRepository"}}}}}}},
                                    {{"name", "local"}, {"tier", "chroot"}, {"source", "rootfs"}}}},
                                  {"otherwise", "reject"},
                                  {"volumes",
                                   {{"allow", {work_}},
                                    {"block", {".env*"}},
                                    {"readOnlyInputs", true},
                                    {"writable", {out_ok}}}}});
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {
        "run", "--task", unique_name("route"), "--trust-policy", trust, "--store", store};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_clawcage(args);
  };
  auto r = run({"--image", "localhost/agent:1", "--", "/bin/true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.record["tier"], "container");
  EXPECT_NE(r.record["trust"]["why"].get<std::string>().find("signed by internal key"),
            std::string::npos)
      << r.record.dump();
  r = run({"--image", "localhost/plugin:1", "--", "/bin/true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.record["tier"], "strict");
  EXPECT_EQ(r.record["trust"]["route"], "plugins");
  EXPECT_EQ(r.record["trust"]["verified_by"][0]["format"], "sigstore");
  r = run({"--", "/bin/true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.record["tier"], "chroot");
  // Stronger than the route: granted. Weaker: refused, saying why.
  r = run({"--isolate", "strict", "--image", "localhost/agent:1", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.record["tier"], "strict");
  r = run({"--isolate", "container", "--image", "localhost/plugin:1", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("tier container is weaker than strict"), std::string::npos) << r.err;
  // Volumes: outside the allowlist, a blocked name, and a shared input asked read-write.
  r = run({"--ro", "/usr/share:/in", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("not under a host path the trust policy allows"), std::string::npos)
      << r.err;
  r = run({"--ro", inputs + "/.env.d:/in", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("blocks"), std::string::npos) << r.err;
  r = run({"--rw", inputs + ":/in", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("read-only"), std::string::npos) << r.err;
  r = run({"--ro", inputs + ":/in", "--rw", out_ok + ":/out", "--", "/bin/sh", "-c",
           "touch /out/x && ! touch /in/y"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  // clawcage image verify --trust-policy shows the decision without running anything.
  auto v = run_clawcage(
      {"image", "verify", "--trust-policy", trust, "--store", store, "localhost/plugin:1"}, 60,
      false);
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("\"tier\": \"strict\""), std::string::npos) << v.out;
}

// An image's User is resolved in its own /etc/passwd and /etc/group, as podman does.
TEST_F(ImageTrust, ImageUserIsResolvedByName) {
  std::string work = work_ + "/user-image";
  std::filesystem::create_directories(work);
  std::string log;
  std::string layout = build_umoci_image(work, "id", &log);
  ASSERT_FALSE(layout.empty()) << log;
  auto r = run_shell("set -e; cd " + work +
                     "; umoci unpack --image oci:agent b >/dev/null; mkdir -p b/rootfs/etc; "
                     "printf 'root:x:0:0::/root:/bin/sh\\nagent:x:1000:1000::/:/bin/sh\\n' > "
                     "b/rootfs/etc/passwd; printf 'agent:x:1000:\\ntools:x:2000:agent\\n' > "
                     "b/rootfs/etc/group; umoci repack --image oci:agent b; umoci config --image "
                     "oci:agent --config.user agent; rm -rf b 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::string store = work + "/store";
  ASSERT_EQ(
      run_clawcage({"image", "import", layout, "--name", "localhost/user:1", "--store", store}, 60,
                   false)
          .exit_code,
      0);
  auto run = run_clawcage(
      {"run", "--task", unique_name("user"), "--image", "localhost/user:1", "--store", store});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "uid=1000(agent) gid=1000(agent) groups=2000(tools)\n");
  // --user wins over the image's.
  run = run_clawcage({"run", "--task", unique_name("user"), "--image", "localhost/user:1",
                      "--store", store, "--user", "5:6"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "uid=5 gid=6\n");
}

// setuid/setgid bits of a layer are stripped unless the trust policy keeps them (no_new_privs
// makes them inert in every tier either way); each choice has its own rootfs cache.
TEST_F(ImageTrust, SetuidBitsAreStrippedUnlessThePolicyKeepsThem) {
  std::string work = work_ + "/setuid-image";
  std::filesystem::create_directories(work);
  std::string log;
  std::string layout = build_umoci_image(work, "stat -c %A /bin/suid", &log);
  ASSERT_FALSE(layout.empty()) << log;
  auto r = run_shell("set -e; cd " + work +
                     "; umoci unpack --image oci:agent b >/dev/null; cp b/rootfs/bin/busybox "
                     "b/rootfs/bin/suid; chmod 4755 b/rootfs/bin/suid; umoci repack --image "
                     "oci:agent b; rm -rf b 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::string store = work + "/store";
  ASSERT_EQ(
      run_clawcage({"image", "import", layout, "--name", "localhost/suid:1", "--store", store}, 60,
                   false)
          .exit_code,
      0);
  for (bool keep : {false, true}) {
    std::string trust =
        trust_file({{"routes", {{{"name", "any"}, {"tier", "container"}, {"source", "any"}}}},
                    {"layers", {{"keepSetuid", keep}}}});
    auto run = run_clawcage({"run", "--task", unique_name("suid"), "--trust-policy", trust,
                             "--image", "localhost/suid:1", "--store", store});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out, keep ? "-rwsr-xr-x\n" : "-rwxr-xr-x\n");
  }
  EXPECT_EQ(run_shell("ls " + store + "/rootfs | wc -l").out, "2\n");
}

// A writable image root is a private overlay per task: what one task writes (here in the
// image's world-writable /var/tmp) never reaches the shared cache or the next task, and the
// layer goes with the task.
TEST_F(ImageTrust, WritableImageRootsArePrivateOverlays) {
  std::string store = work_ + "/store-overlay";
  ASSERT_EQ(run_clawcage({"image", "import", layout_, "--name", "localhost/ov:1", "--store", store},
                         60, false)
                .exit_code,
            0);
  for (const char* tier : {"container", "chroot"}) {
    std::string first = unique_name("ov1"), second = unique_name("ov2");
    auto w = run_clawcage({"run", "--task", first, "--isolate", tier, "--writable-rootfs",
                           "--image", "localhost/ov:1", "--store", store, "--", "/bin/sh", "-c",
                           "echo secret > /var/tmp/leak && cat /var/tmp/leak && "
                           "grep -q ' - overlay overlay ' /proc/self/mountinfo && echo overlay"});
    ASSERT_EQ(w.exit_code, 0) << tier << ": " << w.err;
    EXPECT_EQ(w.out, "secret\noverlay\n") << tier;
    auto r = run_clawcage({"run", "--task", second, "--isolate", tier, "--writable-rootfs",
                           "--image", "localhost/ov:1", "--store", store, "--", "/bin/sh", "-c",
                           "test ! -e /var/tmp/leak"});
    EXPECT_EQ(r.exit_code, 0) << tier << ": the second task saw the first one's file";
    EXPECT_TRUE(run_shell("find " + store + "/rootfs -name leak").out.empty());
    expect_nothing_left(first);
    expect_nothing_left(second);
  }
  // Without --writable-rootfs an image root is read-only.
  auto ro = run_clawcage({"run", "--task", unique_name("ovro"), "--image", "localhost/ov:1",
                          "--store", store, "--", "/bin/sh", "-c", "echo x > /var/tmp/f"});
  EXPECT_NE(ro.exit_code, 0);
  EXPECT_NE(ro.err.find("Read-only file system"), std::string::npos) << ro.err;
}

// deploy/trust/ as shipped, with this test's keys where it expects them.
TEST_F(ImageTrust, DeployExampleRoutesInternalToContainerAndPluginsToGvisor) {
  std::string dir = work_ + "/deploy-trust";
  std::filesystem::create_directories(dir + "/keys");
  for (const char* f : {"trust.json", "policy.json"})
    std::filesystem::copy_file(std::string(CLAWCAGE_SOURCE_DIR) + "/deploy/trust/" + f,
                               dir + "/" + f);
  std::filesystem::copy_file(internal_.keyring, dir + "/keys/internal.gpg");
  std::filesystem::copy_file(work_ + "/plugins.pub", dir + "/keys/plugins.pub");
  std::string store = work_ + "/store-deploy";
  std::string agent = "registry.internal.example/agents/summarise:3";
  std::string plugin = "registry.internal.example/plugins/web-fetch:1";
  ASSERT_EQ(run_clawcage({"image", "import", "dir:" + signed_dir("deploy-a", &internal_, agent),
                          "--name", agent, "--store", store},
                         60, false)
                .exit_code,
            0);
  ASSERT_EQ(run_clawcage({"image", "import", "dir:" + signed_dir("deploy-p", nullptr), "--name",
                          plugin, "--store", store},
                         60, false)
                .exit_code,
            0);
  // Until signed, the plugin is refused; signed with the plugins key it is routed to gvisor.
  auto v = run_clawcage(
      {"image", "verify", "--trust-policy", dir + "/trust.json", "--store", store, plugin}, 60,
      false);
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  ASSERT_EQ(run_clawcage({"image", "sign", "--sigstore-key", work_ + "/plugins.pem", "--store",
                          store, plugin},
                         60, false)
                .exit_code,
            0);
  v = run_clawcage(
      {"image", "verify", "--trust-policy", dir + "/trust.json", "--store", store, plugin}, 60,
      false);
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_EQ(nlohmann::json::parse(v.out)["tier"], "gvisor");
  v = run_clawcage(
      {"image", "verify", "--trust-policy", dir + "/trust.json", "--store", store, agent}, 60,
      false);
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  auto j = nlohmann::json::parse(v.out);
  EXPECT_EQ(j["tier"], "container");
  // The signature policy and the route checked one signature: listed once.
  EXPECT_EQ(j["verified_by"].size(), 1u) << v.out;
  v = run_clawcage({"image", "verify", "--trust-policy", dir + "/trust.json", "--isolate", "strict",
                    "--store", store, plugin},
                   60, false);
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.out.find("weaker than gvisor"), std::string::npos) << v.out;
}

TEST_F(ImageTrust, BadPoliciesNameTheField) {
  struct Case {
    std::string json, needle;
  };
  std::vector<Case> cases = {
      {R"({"transports":{}})", "default: missing"},
      {R"({"default":[{"type":"insecureAcceptAnything"}],"extra":1})", ".extra: unknown field"},
      {R"({"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/nonexistent/k.gpg"}]})",
       "/nonexistent/k.gpg"},
      {R"({"default":[{"type":"signedBy","keyType":"X509","keyPath":"/k"}]})", "keyType"},
      {R"({"default":[]})", "non-empty array"},
      {R"({"default":[{"type":"reject"}],"default":[{"type":"insecureAcceptAnything"}]})",
       "duplicate key \"default\""},
      {R"({"default":[{"type":"reject"}],"transports":{"dir":{"/":[{"type":"reject"}]}}})",
       "forbidden"},
      {R"({"default":[{"type":"signedBy","keyType":"GPGKeys","keyData":"QUJD","signedIdentity":{"type":"nope"}}]})",
       "signedIdentity.type"}};
  std::string dir = signed_dir("badpolicies", nullptr);
  for (const auto& c : cases) {
    std::string p = work_ + "/bad-" + std::to_string(++policies_) + ".json";
    write(p, c.json);
    auto v = run_clawcage({"image", "verify", "--policy", p, "dir:" + dir}, 60, false);
    EXPECT_EQ(v.exit_code, 2) << c.json;
    EXPECT_NE(v.err.find(c.needle), std::string::npos) << c.json << "\n" << v.err;
  }
}

}  // namespace
}  // namespace clawcage::test
