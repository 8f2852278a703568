#include "image/gpg.h"

#include <gpgme.h>
#include <stdlib.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "base/files.h"
#include "base/hash.h"

namespace clawcage::image {

namespace {

Error gpg_error(const std::string& operation, gpgme_error_t err) {
  return make_error(operation, "gpgme", gpgme_strerror(err));
}

struct CtxDeleter {
  void operator()(gpgme_ctx_t c) const { gpgme_release(c); }
};
struct DataDeleter {
  void operator()(gpgme_data_t d) const { gpgme_data_release(d); }
};
using Ctx = std::unique_ptr<std::remove_pointer_t<gpgme_ctx_t>, CtxDeleter>;
using Data = std::unique_ptr<std::remove_pointer_t<gpgme_data_t>, DataDeleter>;

Result<Ctx> new_context(const std::string& home) {
  static const char* version = gpgme_check_version(nullptr);
  if (!version) return make_error("initialise", "gpgme", "gpgme_check_version failed");
  gpgme_ctx_t raw = nullptr;
  if (auto err = gpgme_new(&raw)) return gpg_error("create a context", err);
  Ctx ctx(raw);
  if (auto err = gpgme_set_protocol(raw, GPGME_PROTOCOL_OpenPGP))
    return gpg_error("select OpenPGP", err);
  if (auto err = gpgme_ctx_set_engine_info(raw, GPGME_PROTOCOL_OpenPGP, nullptr,
                                           home.empty() ? nullptr : home.c_str()))
    return gpg_error("set the GnuPG home " + home, err);
  return ctx;
}

Result<Data> data_from(const std::string& bytes) {
  gpgme_data_t d = nullptr;
  if (auto err = gpgme_data_new_from_mem(&d, bytes.data(), bytes.size(), 1))
    return gpg_error("wrap data", err);
  return Data(d);
}

Result<Data> empty_data() {
  gpgme_data_t d = nullptr;
  if (auto err = gpgme_data_new(&d)) return gpg_error("allocate data", err);
  return Data(d);
}

std::string take_data(gpgme_data_t d) {
  size_t n = 0;
  char* buf = gpgme_data_release_and_get_mem(d, &n);
  std::string out(buf ? buf : "", buf ? n : 0);
  gpgme_free(buf);
  return out;
}

// A GnuPG home that exists only for one check.
class TempHome {
 public:
  Result<void> create() {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/clawcage-gpg-XXXXXX";
    if (!mkdtemp(tmpl.data())) return system_error("mkdtemp", tmpl);
    path_ = tmpl;
    // Public keys need no agent: without this, gpg starts a gpg-agent per check that lives
    // on until it notices its home is gone.
    return create_file(path_ + "/gpg.conf", "no-autostart\n", 0600);
  }
  ~TempHome() {
    if (!path_.empty()) remove_tree(path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

namespace {

// Verified (message, keyrings) pairs: a verification is a pure function of both, and each
// costs two gpg processes (~70 ms here), which a daemon checking every task start cannot
// spend on its one loop. Only successes are kept; bounded, cleared when full.
class VerifyCache {
 public:
  std::optional<GpgVerified> find(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }
  void put(const std::string& key, const GpgVerified& v) {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.size() >= 4096) entries_.clear();
    entries_[key] = v;
  }

 private:
  std::mutex mu_;
  std::map<std::string, GpgVerified> entries_;
};

VerifyCache& verify_cache() {
  static VerifyCache cache;
  return cache;
}

Result<GpgVerified> gpg_verify_uncached(const std::string& message,
                                        const std::vector<std::string>& keyrings);

}  // namespace

Result<GpgVerified> gpg_verify(const std::string& message,
                               const std::vector<std::string>& keyrings) {
  if (keyrings.empty()) return make_error("verify signature", "gpg", "no trusted keys given");
  std::string key = sha256_hex(message);
  for (const auto& k : keyrings) key += ":" + sha256_hex(k);
  if (auto hit = verify_cache().find(key)) return *hit;
  TRY_ASSIGN(GpgVerified v, gpg_verify_uncached(message, keyrings));
  verify_cache().put(key, v);
  return v;
}

namespace {

Result<GpgVerified> gpg_verify_uncached(const std::string& message,
                                        const std::vector<std::string>& keyrings) {
  TempHome home;
  TRY(home.create());
  TRY_ASSIGN(Ctx ctx, new_context(home.path()));
  std::vector<std::string> trusted;
  for (const auto& keyring : keyrings) {
    TRY_ASSIGN(Data keys, data_from(keyring));
    if (auto err = gpgme_op_import(ctx.get(), keys.get())) return gpg_error("import keys", err);
    gpgme_import_result_t r = gpgme_op_import_result(ctx.get());
    for (auto* s = r ? r->imports : nullptr; s; s = s->next)
      if (s->result == GPG_ERR_NO_ERROR && s->fpr) trusted.push_back(s->fpr);
  }
  if (trusted.empty())
    return make_error("verify signature", "gpg", "the policy's keyring holds no usable key");
  // Subkeys of the trusted keys sign too; a signature by one names the subkey.
  for (const auto& fpr : std::vector<std::string>(trusted)) {
    gpgme_key_t key = nullptr;
    if (gpgme_get_key(ctx.get(), fpr.c_str(), &key, 0) != 0 || !key) continue;
    for (auto* sub = key->subkeys; sub; sub = sub->next)
      if (sub->fpr && std::find(trusted.begin(), trusted.end(), sub->fpr) == trusted.end())
        trusted.push_back(sub->fpr);
    gpgme_key_unref(key);
  }
  TRY_ASSIGN(Data sig, data_from(message));
  TRY_ASSIGN(Data plain, empty_data());
  if (auto err = gpgme_op_verify(ctx.get(), sig.get(), nullptr, plain.get()))
    return gpg_error("verify signature", err);
  gpgme_verify_result_t v = gpgme_op_verify_result(ctx.get());
  if (!v || !v->signatures)
    return make_error("verify signature", "gpg", "the blob holds no OpenPGP signature");
  if (v->signatures->next)
    return make_error("verify signature", "gpg", "more than one signature in one blob");
  gpgme_signature_t s = v->signatures;
  std::string fpr = s->fpr ? s->fpr : "";
  if (gpgme_err_code(s->status) != GPG_ERR_NO_ERROR) {
    if (gpgme_err_code(s->status) == GPG_ERR_NO_PUBKEY)
      return make_error("verify signature", "gpg",
                        "signed by key " + fpr + ", which the policy does not trust");
    return make_error("verify signature", "gpg",
                      std::string("bad signature: ") + gpgme_strerror(s->status));
  }
  if (std::find(trusted.begin(), trusted.end(), fpr) == trusted.end())
    return make_error("verify signature", "gpg",
                      "signed by key " + fpr + ", which the policy does not trust");
  GpgVerified out;
  out.fingerprint = fpr;
  out.plaintext = take_data(plain.release());
  return out;
}

}  // namespace

Result<std::string> gpg_sign(const std::string& payload, const std::string& fingerprint,
                             const std::string& gnupg_home) {
  TRY_ASSIGN(Ctx ctx, new_context(gnupg_home));
  gpgme_key_t key = nullptr;
  if (auto err = gpgme_get_key(ctx.get(), fingerprint.c_str(), &key, 1))
    return make_error("find signing key", fingerprint,
                      std::string(gpgme_strerror(err)) + " (no secret key in the GnuPG home)");
  gpgme_signers_clear(ctx.get());
  auto added = gpgme_signers_add(ctx.get(), key);
  gpgme_key_unref(key);
  if (added) return gpg_error("use signing key " + fingerprint, added);
  gpgme_set_armor(ctx.get(), 0);
  TRY_ASSIGN(Data in, data_from(payload));
  TRY_ASSIGN(Data out, empty_data());
  if (auto err = gpgme_op_sign(ctx.get(), in.get(), out.get(), GPGME_SIG_MODE_NORMAL))
    return gpg_error("sign with " + fingerprint, err);
  return take_data(out.release());
}

}  // namespace clawcage::image
