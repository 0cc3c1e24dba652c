// TLS for the API server: the certificate and key files loaded into an OpenSSL context with
// reel's settings (TLS 1.2 or later, the server's cipher order, no compression, no
// renegotiation), and reloaded from the same files on demand. Each connection keeps the
// context it began with, so a reload changes only connections accepted after it.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "common/status.h"

namespace reel::api {

class TlsCertificate {
 public:
  // Loads `cert_file` (PEM: the certificate, then any intermediates) and `key_file` (PEM,
  // unencrypted). Errors name the file at fault: missing, unreadable, not PEM, or a key that is
  // not the certificate's. A key file other users can read is logged as a warning.
  static Result<std::unique_ptr<TlsCertificate>> Load(const std::string& cert_file,
                                                      const std::string& key_file);

  // Reads the same files again into a new context for new connections. A bad pair is refused,
  // logged, and the context in use kept.
  Status Reload();

  // The context a new connection is to use; shared so that it outlives a reload.
  std::shared_ptr<boost::asio::ssl::context> current() const;

  // "CN=api.example.com, expires Jan  1 00:00:00 2027 GMT": what is being served, for logs.
  std::string Describe() const;

 private:
  TlsCertificate(std::string cert_file, std::string key_file)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

  const std::string cert_file_, key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::string description_;
};

}  // namespace reel::api
