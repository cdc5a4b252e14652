// Alert-area geometry: haversine distances, ray casting on rings unwrapped across the antimeridian,
// bounding boxes, the area rules and CAP's text forms.
#include "safety/geo.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>
#include <optional>
#include <ranges>
#include <system_error>

namespace tourbus::safety::geo {
namespace {

constexpr double deg = std::numbers::pi / 180;
// A margin on every box edge, about a centimetre: rounding must not move a boundary point out.
constexpr double box_margin_deg = 1e-7;

Error invalid(std::string message) { return Error(Code::invalid_argument, std::move(message), "area"); }

// The ring's longitudes made continuous: each within 180 degrees of the one before.
std::vector<double> unwrapped_lons(const std::vector<Point>& ring) {
  std::vector<double> u;
  u.reserve(ring.size());
  for (std::size_t i = 0; i < ring.size(); ++i)
    u.push_back(i == 0 ? ring[0].lon : u.back() + std::remainder(ring[i].lon - ring[i - 1].lon, 360.0));
  return u;
}

// Crossing-number test in the (longitude, latitude) plane.
bool crosses_odd(const std::vector<Point>& ring, const std::vector<double>& u, double x, double y) {
  bool inside = false;
  for (std::size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
    double yi = ring[i].lat, yj = ring[j].lat;
    if ((yi > y) != (yj > y) && x < (u[j] - u[i]) * (y - yi) / (yj - yi) + u[i]) inside = !inside;
  }
  return inside;
}

// A longitude range (min <= max, any values) as one or two boxes within [-180, 180].
void add_boxes(std::vector<Box>& out, double min_lat, double max_lat, double min_lon, double max_lon) {
  min_lat = std::max(-90.0, min_lat - box_margin_deg);
  max_lat = std::min(90.0, max_lat + box_margin_deg);
  min_lon -= box_margin_deg;
  max_lon += box_margin_deg;
  if (!(max_lon - min_lon < 360)) {
    out.push_back({min_lat, max_lat, -180, 180});
    return;
  }
  double shift = -360 * std::floor((min_lon + 180) / 360);  // brings min_lon into [-180, 180)
  min_lon += shift;
  max_lon += shift;
  if (max_lon <= 180) {
    out.push_back({min_lat, max_lat, min_lon, max_lon});
  } else {
    out.push_back({min_lat, max_lat, min_lon, 180});
    out.push_back({min_lat, max_lat, -180, max_lon - 360});
  }
}

// The angular radius of a circle, in degrees of arc.
double arc_deg(const Circle& c) { return c.radius_km * 1000 / earth_radius_m / deg; }

std::optional<std::string> point_problem(Point p) {
  if (!(p.lat >= -90 && p.lat <= 90)) return "latitude " + format_number(p.lat) + " is out of range -90..90";
  if (!(p.lon >= -180 && p.lon <= 180)) return "longitude " + format_number(p.lon) + " is out of range -180..180";
  return std::nullopt;
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_blank(text[i])) ++i;
    std::size_t start = i;
    while (i < text.size() && !is_blank(text[i])) ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

// A plain decimal: [+-] digits [. digits], or [+-] . digits.
std::optional<double> number(std::string_view s) {
  std::size_t i = 0;
  bool minus = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) minus = s[i++] == '-';
  std::size_t digits = 0, start = i;
  while (i < s.size() && is_digit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++digits;
  }
  if (i != s.size() || digits == 0) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data() + start, s.data() + s.size(), v, std::chars_format::fixed);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return minus ? -v : v;
}

std::string quoted(std::string_view s) {
  constexpr std::size_t most = 40;  // keep messages short whatever the input
  return "\"" + std::string(s.substr(0, most)) + (s.size() > most ? "...\"" : "\"");
}

// "lat,lon"; `what` starts the message ("polygon: point 2: ", "circle: ").
Result<Point> pair(std::string_view s, const std::string& what) {
  auto comma = s.find(',');
  if (comma == std::string_view::npos || s.find(',', comma + 1) != std::string_view::npos)
    return invalid(what + quoted(s) + " is not \"lat,lon\"");
  auto lat = number(s.substr(0, comma)), lon = number(s.substr(comma + 1));
  if (!lat) return invalid(what + "latitude " + quoted(s.substr(0, comma)) + " is not a number");
  if (!lon) return invalid(what + "longitude " + quoted(s.substr(comma + 1)) + " is not a number");
  return Point{*lat, *lon};
}

std::string format_point(Point p) { return format_number(p.lat) + "," + format_number(p.lon); }

}  // namespace

double distance_m(Point a, Point b) {
  double p1 = a.lat * deg, p2 = b.lat * deg;
  double dp = p2 - p1, dl = (b.lon - a.lon) * deg;
  double h = std::sin(dp / 2) * std::sin(dp / 2) + std::cos(p1) * std::cos(p2) * std::sin(dl / 2) * std::sin(dl / 2);
  h = std::clamp(h, 0.0, 1.0);
  return 2 * earth_radius_m * std::atan2(std::sqrt(h), std::sqrt(1 - h));  // better than asin near antipodes
}

bool in_circle(Point p, const Circle& c) { return distance_m(p, c.center) <= c.radius_km * 1000; }

bool in_polygon(Point p, const Polygon& polygon) {
  const auto& ring = polygon.ring;
  if (ring.size() < 3) return false;
  auto u = unwrapped_lons(ring);
  for (double x : {p.lon, p.lon + 360, p.lon - 360})
    if (crosses_odd(ring, u, x, p.lat)) return true;
  return false;
}

bool Area::contains(Point p) const {
  return std::ranges::any_of(polygons, [&](const Polygon& g) { return in_polygon(p, g); }) ||
         std::ranges::any_of(circles, [&](const Circle& c) { return in_circle(p, c); });
}

std::vector<Box> boxes(const Area& area) {
  std::vector<Box> out;
  for (const auto& polygon : area.polygons) {
    const auto& ring = polygon.ring;
    if (ring.empty()) continue;
    auto u = unwrapped_lons(ring);
    double min_lat = ring.front().lat, max_lat = ring.front().lat;  // (no views: clang 14 with libstdc++ 12)
    for (const auto& pt : ring) {
      min_lat = std::min(min_lat, pt.lat);
      max_lat = std::max(max_lat, pt.lat);
    }
    auto [min_lon, max_lon] = std::ranges::minmax(u);
    add_boxes(out, min_lat, max_lat, min_lon, max_lon);
  }
  for (const auto& c : area.circles) {
    double r = arc_deg(c), lat = c.center.lat, lon = c.center.lon;
    if (lat + r >= 90 || lat - r <= -90 || r >= 90) {  // a pole inside: every longitude
      add_boxes(out, lat - r, lat + r, -180, 180);
      continue;
    }
    // The widest longitude of a spherical cap is at its tangent points: sin(dlon) = sin(r) / cos(lat).
    double dlon = std::asin(std::min(1.0, std::sin(r * deg) / std::cos(lat * deg))) / deg;
    add_boxes(out, lat - r, lat + r, lon - dlon, lon + dlon);
  }
  return out;
}

Status check(const Polygon& polygon) {
  const auto& ring = polygon.ring;
  if (ring.size() < 4)
    return invalid("has " + std::to_string(ring.size()) + (ring.size() == 1 ? " point" : " points") +
                   "; a polygon needs at least 4, the last equal to the first");
  for (std::size_t i = 0; i < ring.size(); ++i) {
    auto at = "point " + std::to_string(i + 1) + ": ";
    if (auto problem = point_problem(ring[i])) return invalid(at + *problem);
    if (std::abs(ring[i].lat) > max_abs_lat)
      return invalid(at + "latitude " + format_number(ring[i].lat) +
                     " is too close to a pole (areas beyond 85 degrees are not supported)");
  }
  if (!(ring.back() == ring.front())) return invalid("the last point must equal the first");
  auto u = unwrapped_lons(ring);
  auto [min_lon, max_lon] = std::ranges::minmax(u);
  if (max_lon - min_lon >= 360 || std::abs(u.back() - u.front()) > 180)
    return invalid("goes around a pole (areas around the poles are not supported)");
  return {};
}

Status check(const Circle& c) {
  if (auto problem = point_problem(c.center)) return invalid("center " + *problem);
  if (!(c.radius_km > 0 && c.radius_km <= max_radius_km))
    return invalid("radius " + format_number(c.radius_km) + " km is out of range (more than 0, at most 2000)");
  if (std::abs(c.center.lat) + arc_deg(c) > max_abs_lat)
    return invalid("reaches beyond latitude 85 (areas near the poles are not supported)");
  return {};
}

Status check(const Area& area) {
  for (std::size_t i = 0; i < area.polygons.size(); ++i)
    if (auto s = check(area.polygons[i]); !s)
      return invalid("polygon " + std::to_string(i + 1) + ": " + s.error().message);
  for (std::size_t i = 0; i < area.circles.size(); ++i)
    if (auto s = check(area.circles[i]); !s)
      return invalid("circle " + std::to_string(i + 1) + ": " + s.error().message);
  return {};
}

Result<Circle> parse_circle(std::string_view text) {
  auto w = words(text);
  if (w.size() != 2)
    return invalid("circle: expected \"lat,lon radius_km\", got " + std::to_string(w.size()) +
                   (w.size() == 1 ? " item" : " items"));
  auto center = pair(w[0], "circle: ");
  if (!center) return center.error();
  auto radius = number(w[1]);
  if (!radius) return invalid("circle: radius " + quoted(w[1]) + " is not a number");
  return Circle{*center, *radius};
}

Result<Polygon> parse_polygon(std::string_view text) {
  auto w = words(text);
  if (w.empty()) return invalid("polygon: no points");
  Polygon out;
  out.ring.reserve(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    auto p = pair(w[i], "polygon: point " + std::to_string(i + 1) + ": ");
    if (!p) return p.error();
    out.ring.push_back(*p);
  }
  return out;
}

std::string format_number(double value) {
  if (value == 0) return "0";  // and -0
  char buf[400];               // the longest fixed form of a double (denormals) is ~330 characters
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
  if (ec != std::errc()) return "nan";
  return std::string(buf, end);
}

std::string format_circle(const Circle& circle) {
  return format_point(circle.center) + " " + format_number(circle.radius_km);
}

std::string format_polygon(const Polygon& polygon) {
  std::string out;
  for (const auto& p : polygon.ring) {
    if (!out.empty()) out += ' ';
    out += format_point(p);
  }
  return out;
}

}  // namespace tourbus::safety::geo
