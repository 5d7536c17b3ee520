// Content hashes of files (internal): model weights are identified in reports by their SHA-256.
#pragma once

#include <string>

namespace pulmo {

// Lower-case hex SHA-256 of a file's bytes (OpenSSL). Throws Error(NotFound) when it cannot be read.
std::string sha256_file(const std::string& path);
// Lower-case hex SHA-256 of `bytes`.
std::string sha256_hex(const std::string& bytes);

}  // namespace pulmo
