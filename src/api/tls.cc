#include "api/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

namespace reel::api {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2's AEAD suites with forward secrecy (Mozilla's "intermediate" list without DHE, which
// would need parameters of our own); TLS 1.3 keeps OpenSSL's suites, which are all of that kind.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// A PEM file read whole, so that a missing or unreadable one is named with the system's reason
// (OpenSSL's own file loading says only "system lib").
Result<std::string> ReadPem(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(what + " " + path + ": cannot read: " + std::strerror(errno));
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  if (text.size() > (1 << 20)) return InvalidArgument(what + " " + path + ": larger than 1 MiB");
  if (text.empty()) return InvalidArgument(what + " " + path + ": empty");
  return text;
}

std::string OpenSslReason(const boost::system::error_code& ec) {
  std::string reason = ec.message();
  ERR_clear_error();
  return reason;
}

std::string Summary(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!cert) return "no certificate";
  char subject[256] = {0};
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject) - 1);
  std::string expires;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    ASN1_TIME_print(bio, X509_get0_notAfter(cert));
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    expires.assign(data, static_cast<size_t>(n));
    BIO_free(bio);
  }
  return std::string(subject) + ", expires " + expires;
}

Result<std::shared_ptr<ssl::context>> MakeContext(const std::string& cert_file,
                                                  const std::string& key_file) {
  Result<std::string> cert = ReadPem("TLS certificate", cert_file);
  if (!cert.ok()) return cert.status();
  Result<std::string> key = ReadPem("TLS key", key_file);
  if (!key.ok()) return key.status();

  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
  SSL_CTX_set_options(
      h, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cipher_list(h, kTls12Ciphers);
  // An idle connection (most event streams, most of the time) gives its ~34 KiB of record
  // buffers back until it next reads or writes.
  SSL_CTX_set_mode(h, SSL_MODE_RELEASE_BUFFERS);
  // Without a callback OpenSSL would ask for an encrypted key's passphrase on the terminal.
  ctx->set_password_callback([](size_t, ssl::context::password_purpose) { return std::string(); });

  boost::system::error_code ec;
  ctx->use_certificate_chain(boost::asio::buffer(*cert), ec);
  if (ec)
    return InvalidArgument("TLS certificate " + cert_file + ": not a PEM certificate chain (" +
                           OpenSslReason(ec) + ")");
  ctx->use_private_key(boost::asio::buffer(*key), ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH)
    ec = {};  // said below, in the user's words
  if (ec)
    return InvalidArgument("TLS key " + key_file + ": not an unencrypted PEM private key (" +
                           OpenSslReason(ec) + ")");
  if (SSL_CTX_check_private_key(h) != 1) {
    ERR_clear_error();
    return InvalidArgument("TLS key " + key_file + " is not the key of the certificate in " +
                           cert_file);
  }
  if (X509_cmp_current_time(X509_get0_notAfter(SSL_CTX_get0_certificate(h))) < 0)
    spdlog::warn("the TLS certificate {} has expired ({}): clients will refuse it", cert_file,
                 Summary(h));
  struct stat st;
  if (stat(key_file.c_str(), &st) == 0 && (st.st_mode & S_IROTH))
    spdlog::warn("the TLS key {} is readable by every user (mode {:o}): chmod 600 it", key_file,
                 st.st_mode & 0777);
  return ctx;
}

}  // namespace

Result<std::unique_ptr<TlsCertificate>> TlsCertificate::Load(const std::string& cert_file,
                                                             const std::string& key_file) {
  Result<std::shared_ptr<ssl::context>> ctx = MakeContext(cert_file, key_file);
  if (!ctx.ok()) return ctx.status();
  std::unique_ptr<TlsCertificate> tls(new TlsCertificate(cert_file, key_file));
  tls->context_ = *ctx;
  tls->description_ = Summary((*ctx)->native_handle());
  return tls;
}

Status TlsCertificate::Reload() {
  Result<std::shared_ptr<ssl::context>> ctx = MakeContext(cert_file_, key_file_);
  if (!ctx.ok()) {
    spdlog::error("TLS reload refused, still serving {}: {}", Describe(), ctx.status().message());
    return ctx.status();
  }
  std::string description = Summary((*ctx)->native_handle());
  {
    std::lock_guard<std::mutex> lock(mu_);
    context_ = *ctx;
    description_ = description;
  }
  spdlog::info("TLS certificate reloaded: {}", description);
  return Status::Ok();
}

std::shared_ptr<ssl::context> TlsCertificate::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return context_;
}

std::string TlsCertificate::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  return description_;
}

}  // namespace reel::api
