// cli.h: command-line helpers shared by the subcommands (faceswap/ and tools/): --help detection and option-value
// parsing with errors that name the command and the option.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace fs {

/// True when the arguments ask for help (--help or -h anywhere).
inline bool is_help(const std::vector<std::string>& args) {
    return std::find(args.begin(), args.end(), "--help") != args.end() ||
           std::find(args.begin(), args.end(), "-h") != args.end();
}

/// The value after option args[i] (advancing i past it); an error naming the command when it is missing.
inline const std::string& option_value(const char* cmd, const std::vector<std::string>& args, size_t& i) {
    FS_CHECK(i + 1 < args.size(), cmd, ": ", args[i], " needs a value (see faceswap ", cmd, " --help)");
    return args[++i];
}

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
