// Small wrappers over OpenSSL for what reel needs: random ids and secrets, SHA-256, HMAC-SHA256,
// constant-time comparison.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace reel {

// `bytes` random bytes from the OS CSPRNG, hex-encoded (2*bytes characters).
std::string RandomHex(size_t bytes);
std::string Sha256Hex(std::string_view data);
std::string HmacSha256Hex(std::string_view key, std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string Hex(std::string_view bytes);
std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);  // kInvalidArgument if malformed

// AES-256-GCM with a 32-byte key: base64(12-byte nonce | ciphertext | 16-byte tag), and back.
// Decryption fails (kInvalidArgument) on a wrong key or any tampering.
std::string Seal(std::string_view key, std::string_view plaintext);
Result<std::string> Open(std::string_view key, std::string_view sealed);

// A single value kept sealed in a store column: "sealed:" + Seal(key, plaintext). OpenValue
// opens one and passes a value without the prefix through unchanged: rows written before values
// were sealed, which the server seals when it starts.
std::string SealValue(std::string_view key, std::string_view plaintext);
Result<std::string> OpenValue(std::string_view key, std::string_view stored);
bool IsSealedValue(std::string_view stored);

// Compares in time that depends only on the lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace reel
