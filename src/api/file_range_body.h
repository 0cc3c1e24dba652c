// A Beast body that streams part of an open file (a byte range, or all of it) with pread, so
// that a 206 answer reads only the bytes it sends. Beast's own file_body sends a whole file.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <utility>

#include <boost/beast/http.hpp>
#include <boost/optional.hpp>

#include "api/reply.h"

namespace reel::api {

struct FileRangeBody {
  struct value_type {
    std::shared_ptr<OpenFile> file;
    uint64_t offset = 0, length = 0;
  };

  static uint64_t size(const value_type& v) { return v.length; }

  class writer {
   public:
    using const_buffers_type = boost::asio::const_buffer;

    template <bool isRequest, class Fields>
    writer(boost::beast::http::header<isRequest, Fields>&, const value_type& v)
        : body_(v), position_(v.offset), remain_(v.length) {}

    void init(boost::beast::error_code& ec) { ec = {}; }

    boost::optional<std::pair<const_buffers_type, bool>> get(boost::beast::error_code& ec) {
      size_t amount = static_cast<size_t>(std::min<uint64_t>(remain_, sizeof(buffer_)));
      ec = {};
      if (amount == 0) return boost::none;
      ssize_t n = pread(body_.file->fd, buffer_, amount, static_cast<off_t>(position_));
      if (n <= 0) {
        // A file cut short since it was opened ends the answer rather than padding it.
        ec = n < 0 ? boost::beast::error_code(errno, boost::system::generic_category())
                   : boost::beast::http::error::short_read;
        return boost::none;
      }
      position_ += static_cast<uint64_t>(n);
      remain_ -= static_cast<uint64_t>(n);
      return {{const_buffers_type(buffer_, static_cast<size_t>(n)), remain_ > 0}};
    }

   private:
    const value_type& body_;
    uint64_t position_, remain_;
    char buffer_[64 * 1024];
  };
};

}  // namespace reel::api
