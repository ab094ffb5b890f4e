// error.h: the one error type of the library and the always-on checks.
// FS_CHECK stays on in release builds and throws fs::Error with file:line, the failed condition and a
// message built from its remaining arguments (streamed, so numbers and shapes need no formatting).
// Library code never calls exit(); only the mains in apps/ turn an fs::Error into an exit code.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace fs {

/// The exception every check in the library throws.
class Error : public std::runtime_error {
 public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
inline void stream_all(std::ostringstream&) {}
template <typename A, typename... R>
void stream_all(std::ostringstream& os, const A& a, const R&... r) {
    os << a;
    stream_all(os, r...);
}
template <typename... Args>
[[noreturn]] void throw_error(const char* file, int line, const char* cond, const Args&... args) {
    std::ostringstream os;
    stream_all(os, args...);
    std::string msg = os.str();
    std::ostringstream full;
    full << file << ":" << line << ": " << (msg.empty() ? std::string("check failed") : msg);
    if (cond && *cond) full << " [check: " << cond << "]";
    throw Error(full.str());
}
}  // namespace detail

}  // namespace fs

/// Always-on check: FS_CHECK(c == k, "conv2d: input has C=", c, " but weight expects ", k);
#define FS_CHECK(cond, ...)                                                         \
    do {                                                                            \
        if (!(cond)) ::fs::detail::throw_error(__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } while (0)

/// Unconditional failure with a message.
#define FS_FAIL(...) ::fs::detail::throw_error(__FILE__, __LINE__, "", __VA_ARGS__)

/// Internal invariant; compiled out with NDEBUG (never used for user input).
#ifdef NDEBUG
#define FS_ASSERT(cond) ((void)0)
#else
#define FS_ASSERT(cond) FS_CHECK(cond, "internal invariant violated")
#endif
