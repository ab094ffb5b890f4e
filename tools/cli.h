// cli.h: option-value parsing shared by the tools' command lines (extract, convert).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "tensor/error.h"

namespace fs {

/// `v` as a finite number; otherwise an error naming the command and the option.
inline double parse_number(const char* cmd, const std::string& option, const std::string& v) {
    double d = 0;
    size_t used = 0;
    try {
        d = std::stod(v, &used);
    } catch (...) {
        used = 0;
    }
    FS_CHECK(used == v.size() && used > 0 && std::isfinite(d), cmd, ": ", option, " expects a number, got '", v, "'");
    return d;
}

/// `v` as a whole number; otherwise an error naming the command and the option.
inline int64_t parse_integer(const char* cmd, const std::string& option, const std::string& v) {
    const double d = parse_number(cmd, option, v);
    FS_CHECK(d == std::floor(d) && std::abs(d) < 1e15, cmd, ": ", option, " expects a whole number, got '", v, "'");
    return int64_t(d);
}

}  // namespace fs
