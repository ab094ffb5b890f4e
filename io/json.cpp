// json.cpp: see json.h.
#include "io/json.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace fs {

namespace {

class JsonParser {
 public:
    JsonParser(const std::string& s, const std::string& context) : m_s(s), m_ctx(context) {}
    Json parse() {
        Json v = value(0);
        ws();
        FS_CHECK(m_i == m_s.size(), bad("trailing characters after the value"));
        return v;
    }

 private:
    std::string bad(const std::string& why) const {
        return m_ctx + " (" + why + " at byte " + std::to_string(m_i) + ")";
    }
    void ws() {
        while (m_i < m_s.size() && (m_s[m_i] == ' ' || m_s[m_i] == '\n' || m_s[m_i] == '\r' || m_s[m_i] == '\t')) ++m_i;
    }
    char peek() {
        ws();
        FS_CHECK(m_i < m_s.size(), bad("unexpected end"));
        return m_s[m_i];
    }
    void expect(char c) {
        FS_CHECK(peek() == c, bad(std::string("expected '") + c + "'"));
        ++m_i;
    }
    Json value(int depth) {
        FS_CHECK(depth < 32, bad("nesting too deep"));
        char c = peek();
        Json v;
        if (c == '{') {
            v.kind = Json::object;
            ++m_i;
            if (peek() == '}') {
                ++m_i;
                return v;
            }
            for (;;) {
                std::string k = string_lit();
                expect(':');
                v.obj.emplace_back(std::move(k), value(depth + 1));
                if (peek() == ',') {
                    ++m_i;
                    continue;
                }
                expect('}');
                return v;
            }
        }
        if (c == '[') {
            v.kind = Json::array;
            ++m_i;
            if (peek() == ']') {
                ++m_i;
                return v;
            }
            for (;;) {
                v.arr.push_back(value(depth + 1));
                if (peek() == ',') {
                    ++m_i;
                    continue;
                }
                expect(']');
                return v;
            }
        }
        if (c == '"') {
            v.kind = Json::string;
            v.str = string_lit();
            return v;
        }
        if (m_s.compare(m_i, 4, "true") == 0) return m_i += 4, v.kind = Json::boolean, v.b = true, v;
        if (m_s.compare(m_i, 5, "false") == 0) return m_i += 5, v.kind = Json::boolean, v;
        if (m_s.compare(m_i, 4, "null") == 0) return m_i += 4, v;
        size_t start = m_i;
        while (m_i < m_s.size() && std::strchr("+-0123456789.eE", m_s[m_i])) ++m_i;
        FS_CHECK(m_i > start, bad("unexpected character"));
        std::string num = m_s.substr(start, m_i - start);
        char* end = nullptr;
        v.kind = Json::number;
        v.num = std::strtod(num.c_str(), &end);
        FS_CHECK(end && *end == '\0', bad("bad number '" + num + "'"));
        return v;
    }
    std::string string_lit() {
        expect('"');
        std::string out;
        for (;;) {
            FS_CHECK(m_i < m_s.size(), bad("unterminated string"));
            char c = m_s[m_i++];
            if (c == '"') return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            FS_CHECK(m_i < m_s.size(), bad("unterminated escape"));
            char e = m_s[m_i++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    FS_CHECK(m_i + 4 <= m_s.size(), bad("short \\u escape"));
                    unsigned cp = unsigned(std::stoul(m_s.substr(m_i, 4), nullptr, 16));
                    m_i += 4;
                    // BMP code points only (our writer never escapes beyond control characters)
                    if (cp < 0x80) out += char(cp);
                    else if (cp < 0x800) out += char(0xc0 | (cp >> 6)), out += char(0x80 | (cp & 0x3f));
                    else out += char(0xe0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3f)), out += char(0x80 | (cp & 0x3f));
                    break;
                }
                default: FS_FAIL(bad(std::string("bad escape \\") + e));
            }
        }
    }
    const std::string& m_s;
    const std::string& m_ctx;
    size_t m_i = 0;
};

}  // namespace

const Json& Json::at(const std::string& k, const std::string& context) const {
    FS_CHECK(kind == object, context, ": expected an object holding '", k, "'");
    const Json* v = find(k);
    FS_CHECK(v, context, ": missing '", k, "'");
    return *v;
}

Json parse_json(const std::string& text, const std::string& context) { return JsonParser(text, context).parse(); }

Json read_json_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    FS_CHECK(f, path, ": cannot open (missing or unreadable)");
    std::stringstream ss;
    ss << f.rdbuf();
    FS_CHECK(!f.bad(), path, ": read error");
    return parse_json(ss.str(), path + ": corrupt JSON");
}

}  // namespace fs
