#include "core/rfc3339.h"

#include <chrono>
#include <cstdint>

namespace annals {
namespace {

constexpr int64_t kTicksPerSecond = 10'000'000;

// Writes `value` as exactly `width` decimal digits (value < 10^width).
void PutDigits(char* at, int width, int64_t value) {
  for (int i = width - 1; i >= 0; --i) {
    at[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

bool ParseDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

void AppendRfc3339(Timestamp t, std::string* out) {
  using namespace std::chrono;
  // Floor division, so times before 1970 still get a fraction in [0, 1 s).
  const int64_t micros = t.ticks / 10 - (t.ticks % 10 < 0 ? 1 : 0);
  const sys_days day = floor<days>(sys_time<microseconds>(microseconds(micros)));
  const year_month_day ymd(day);
  const int64_t in_day = micros - duration_cast<microseconds>(day.time_since_epoch()).count();
  const int64_t secs = in_day / 1'000'000;
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {  // outside RFC 3339's four-digit years: clamp, never garble
    out->append(year < 0 ? "0000-01-01T00:00:00.000000Z" : "9999-12-31T23:59:59.999999Z");
    return;
  }
  char buf[] = "0000-00-00T00:00:00.000000Z";
  PutDigits(buf, 4, year);
  PutDigits(buf + 5, 2, static_cast<unsigned>(ymd.month()));
  PutDigits(buf + 8, 2, static_cast<unsigned>(ymd.day()));
  PutDigits(buf + 11, 2, secs / 3600);
  PutDigits(buf + 14, 2, secs / 60 % 60);
  PutDigits(buf + 17, 2, secs % 60);
  PutDigits(buf + 20, 6, in_day % 1'000'000);
  out->append(buf, sizeof buf - 1);
}

std::string FormatRfc3339(Timestamp t) {
  std::string s;
  AppendRfc3339(t, &s);
  return s;
}

std::optional<Timestamp> ParseRfc3339(std::string_view s) {
  using namespace std::chrono;
  int y, mo, d, h, mi, se;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  if (!ParseDigits(s, 0, 4, &y) || !ParseDigits(s, 5, 2, &mo) || !ParseDigits(s, 8, 2, &d) ||
      !ParseDigits(s, 11, 2, &h) || !ParseDigits(s, 14, 2, &mi) || !ParseDigits(s, 17, 2, &se)) {
    return std::nullopt;
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || se > 60) return std::nullopt;  // 60: a leap second
  size_t i = 19;
  int64_t fraction_ticks = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int64_t scale = kTicksPerSecond / 10;
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      fraction_ticks += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start) return std::nullopt;
  }
  int64_t offset_minutes = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int oh, om;
    if (!ParseDigits(s, i + 1, 2, &oh) || !ParseDigits(s, i + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (s[i] == '+' ? 1 : -1) * (oh * 60 + om);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  const int64_t secs =
      sys_days(ymd).time_since_epoch() / seconds(1) + h * 3600 + mi * 60 + se - offset_minutes * 60;
  return Timestamp{secs * kTicksPerSecond + fraction_ticks};
}

}  // namespace annals
