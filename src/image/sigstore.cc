#include "image/sigstore.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "base/hash.h"

namespace clawcage::image {

namespace {

std::string ssl_reason() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyDeleter>;

Result<Key> load_key(const std::string& pem, bool secret) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return make_error("read key", "openssl", ssl_reason());
  EVP_PKEY* k = secret ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                       : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (!k)
    return make_error(secret ? "read private key" : "read public key", "PEM",
                      ssl_reason() + (secret ? " (an unencrypted PKCS#8 or SEC1 PEM key)"
                                             : " (a PEM SubjectPublicKeyInfo key)"));
  Key key(k);
  int id = EVP_PKEY_get_base_id(k);
  if (id != EVP_PKEY_EC && id != EVP_PKEY_RSA)
    return make_error("read key", "PEM", "only ECDSA and RSA keys are supported for sigstore");
  return key;
}

Result<std::string> key_id(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  if (n <= 0) return make_error("encode public key", "openssl", ssl_reason());
  std::string id = sha256_hex(std::string_view(reinterpret_cast<char*>(der), n)).substr(0, 16);
  OPENSSL_free(der);
  return id;
}

}  // namespace

Result<std::string> sigstore_key_id(const std::string& public_key_pem) {
  TRY_ASSIGN(Key key, load_key(public_key_pem, false));
  return key_id(key.get());
}

Result<std::string> sigstore_verify(const std::string& payload, const std::string& signature_der,
                                    const std::string& public_key_pem) {
  TRY_ASSIGN(Key key, load_key(public_key_pem, false));
  std::unique_ptr<EVP_MD_CTX, MdDeleter> md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1)
    return make_error("verify signature", "openssl", ssl_reason());
  int r = EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(signature_der.data()),
                           signature_der.size(),
                           reinterpret_cast<const unsigned char*>(payload.data()), payload.size());
  if (r != 1) {
    ERR_clear_error();
    TRY_ASSIGN(std::string id, key_id(key.get()));
    return make_error("verify signature", "sigstore",
                      "the signature does not verify with key " + id);
  }
  return key_id(key.get());
}

Result<std::string> sigstore_sign(const std::string& payload, const std::string& private_key_pem) {
  TRY_ASSIGN(Key key, load_key(private_key_pem, true));
  std::unique_ptr<EVP_MD_CTX, MdDeleter> md(EVP_MD_CTX_new());
  size_t n = 0;
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(payload.data()),
                     payload.size()) != 1)
    return make_error("sign", "openssl", ssl_reason());
  std::string sig(n, '\0');
  if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &n,
                     reinterpret_cast<const unsigned char*>(payload.data()), payload.size()) != 1)
    return make_error("sign", "openssl", ssl_reason());
  sig.resize(n);
  return sig;
}

}  // namespace clawcage::image
