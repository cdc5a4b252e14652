// Alert-area geometry: distances against known values, polygons (concave, across the antimeridian),
// circles, bounding boxes that never drop a point, the area rules and CAP's text forms.
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "safety/geo.hpp"

// Named, with the tests inside: unity builds merge test files, whose helpers must not meet.
namespace tourbus::safety::geo_test {

using namespace geo;

Polygon ring(std::vector<Point> points) { return Polygon{std::move(points)}; }

Polygon parsed(std::string_view text) {
  auto r = parse_polygon(text);
  INFO(text << ": " << (r.ok() ? "" : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

std::string area_error(const Area& area) {
  auto s = check(area);
  if (s.ok()) return "(valid)";
  CHECK(s.error().code == Code::invalid_argument);
  CHECK(s.error().field == "area");
  return s.error().message;
}

std::string polygon_error(const Polygon& p) { return area_error(Area{"", {p}, {}}); }
std::string circle_error(const Circle& c) { return area_error(Area{"", {}, {c}}); }

std::string text_error(std::string_view text, bool circle) {
  std::string message = "(parsed)";
  if (circle) {
    if (auto r = parse_circle(text); !r) message = r.error().message;
  } else {
    if (auto r = parse_polygon(text); !r) message = r.error().message;
  }
  return message;
}

// The point at `distance_m` from `from` on the initial bearing `bearing_deg` (great circle).
Point destination(Point from, double bearing_deg, double distance) {
  constexpr double deg = std::numbers::pi / 180;
  double d = distance / earth_radius_m, b = bearing_deg * deg, p1 = from.lat * deg, l1 = from.lon * deg;
  double p2 = std::asin(std::sin(p1) * std::cos(d) + std::cos(p1) * std::sin(d) * std::cos(b));
  double l2 = l1 + std::atan2(std::sin(b) * std::sin(d) * std::cos(p1), std::cos(d) - std::sin(p1) * std::sin(p2));
  return {p2 / deg, std::remainder(l2 / deg, 360.0)};
}

bool in_some_box(const std::vector<Box>& bs, Point p) {
  for (const auto& b : bs)
    if (p.lat >= b.min_lat && p.lat <= b.max_lat && p.lon >= b.min_lon && p.lon <= b.max_lon) return true;
  return false;
}

// (-10..10, 178..-178): 4 degrees wide, across the antimeridian.
const Polygon across = ring({{-10, 178}, {-10, -178}, {10, -178}, {10, 178}, {-10, 178}});

TEST_CASE("geo: great-circle distances match known values") {
  const Point paris{48.8566, 2.3522}, london{51.5074, -0.1278};
  CHECK(distance_m(paris, london) == Approx(343'500).epsilon(0.005));
  CHECK(distance_m(london, paris) == Approx(distance_m(paris, london)));
  CHECK(distance_m(paris, paris) == 0);
  // One degree of the equator and a quarter of a meridian on the mean sphere.
  CHECK(distance_m({0, 0}, {0, 1}) == Approx(2 * std::numbers::pi * earth_radius_m / 360).epsilon(1e-9));
  CHECK(distance_m({0, 0}, {90, 0}) == Approx(std::numbers::pi / 2 * earth_radius_m).epsilon(1e-9));
  // Across the antimeridian the short way: 0.2 degrees, not 359.8.
  CHECK(distance_m({0, 179.9}, {0, -179.9}) == Approx(0.2 * 111'194.93).epsilon(1e-4));
  // Antipodes: half the circumference (haversine loses ~0.1 m there), no NaN from rounding.
  CHECK(distance_m({10, 20}, {-10, -160}) == Approx(std::numbers::pi * earth_radius_m).epsilon(1e-7));
}

TEST_CASE("geo: points in a convex and a concave polygon") {
  auto square = parsed("0,0 0,10 10,10 10,0 0,0");
  CHECK(in_polygon({5, 5}, square));
  CHECK(in_polygon({0.001, 9.999}, square));
  CHECK_FALSE(in_polygon({5, 10.5}, square));
  CHECK_FALSE(in_polygon({-0.5, 5}, square));
  CHECK_FALSE(in_polygon({5, -170}, square));  // not found again 360 degrees away

  // A U opening to the north: a bar along lat 0..3, arms at lon 0..3 and 7..10 up to lat 10.
  auto u = parsed("0,0 0,10 10,10 10,7 3,7 3,3 10,3 10,0 0,0");
  CHECK(in_polygon({1.5, 5}, u));      // the bar
  CHECK(in_polygon({8, 1.5}, u));      // the west arm
  CHECK(in_polygon({8, 8.5}, u));      // the east arm
  CHECK_FALSE(in_polygon({5, 5}, u));  // the notch between the arms
  CHECK_FALSE(in_polygon({9.9, 5}, u));
  CHECK_FALSE(in_polygon({11, 1.5}, u));

  // The same ring in the other direction gives the same answers.
  auto reversed = u;
  std::reverse(reversed.ring.begin(), reversed.ring.end());
  CHECK(in_polygon({8, 1.5}, reversed));
  CHECK_FALSE(in_polygon({5, 5}, reversed));
}

TEST_CASE("geo: a polygon across the antimeridian") {
  CHECK(check(Area{"", {across}, {}}).ok());
  CHECK(in_polygon({0, 179.5}, across));
  CHECK(in_polygon({0, -179.5}, across));
  CHECK(in_polygon({9, 180}, across));
  CHECK(in_polygon({-9, -180}, across));
  CHECK_FALSE(in_polygon({0, 0}, across));
  CHECK_FALSE(in_polygon({0, 170}, across));
  CHECK_FALSE(in_polygon({0, -170}, across));
  CHECK_FALSE(in_polygon({11, 179.5}, across));

  // Starting on the west side: unwrapped to -182..-178, found through lon - 360.
  auto west_first = parsed("-10,-178 10,-178 10,178 -10,178 -10,-178");
  CHECK(in_polygon({0, 179.5}, west_first));
  CHECK(in_polygon({0, -179.5}, west_first));
  CHECK_FALSE(in_polygon({0, 0}, west_first));
  CHECK_FALSE(in_polygon({0, 170}, west_first));

  Area area{"Date line", {across}, {}};
  CHECK(area.contains({0, 179.5}));
  CHECK_FALSE(area.contains({0, 170}));
}

TEST_CASE("geo: circles by great-circle distance, across the antimeridian too") {
  Circle c{{0, 179.9}, 50};
  CHECK(in_circle({0, 179.9}, c));
  CHECK(in_circle({0, -179.8}, c));      // 0.3 degrees: 33 km the short way
  CHECK(in_circle({0, 179.5}, c));       // 44 km
  CHECK(in_circle({0.4, -179.95}, c));   // 47 km
  CHECK_FALSE(in_circle({0, -179.4}, c));  // 78 km
  CHECK_FALSE(in_circle({0, 179.4}, c));   // 56 km
  CHECK_FALSE(in_circle({0, 0}, c));

  // Near 60 degrees north a degree of longitude is half as long: 80 km east is ~1.44 degrees.
  Circle north{{60, 10}, 80};
  CHECK(in_circle({60, 11.4}, north));
  CHECK_FALSE(in_circle({60, 11.5}, north));
  CHECK_FALSE(in_circle({60.8, 10}, north));  // 89 km north
  CHECK(in_circle({60.7, 10}, north));        // 78 km north

  Area area{"Harbour", {}, {c}};
  CHECK(area.contains({0, -179.8}));
  CHECK_FALSE(area.contains({0, -179.4}));
  CHECK_FALSE(Area{}.contains({0, 0}));
}

TEST_CASE("geo: areas near the poles are refused with a message") {
  CHECK(polygon_error(parsed("80,0 86,10 80,20 80,0")) ==
        "polygon 1: point 2: latitude 86 is too close to a pole (areas beyond 85 degrees are not supported)");
  CHECK(polygon_error(parsed("-80,0 -85.5,10 -80,20 -80,0")) ==
        "polygon 1: point 2: latitude -85.5 is too close to a pole (areas beyond 85 degrees are not supported)");
  // A ring along latitude 80 that goes once around the north pole: its longitudes unwrap to 0..360.
  CHECK(polygon_error(parsed("80,0 80,90 80,180 80,-90 80,0")) ==
        "polygon 1: goes around a pole (areas around the poles are not supported)");
  CHECK(polygon_error(parsed("80,0 80,120 80,-120 80,0")) ==
        "polygon 1: goes around a pole (areas around the poles are not supported)");
  // 200 km is 1.8 degrees: from 84 that reaches 85.8.
  CHECK(circle_error({{84, 0}, 200}) == "circle 1: reaches beyond latitude 85 (areas near the poles are not supported)");
  CHECK(circle_error({{-84.5, 100}, 60}) ==
        "circle 1: reaches beyond latitude 85 (areas near the poles are not supported)");
  CHECK(circle_error({{80, 0}, 100}) == "(valid)");
  CHECK(polygon_error(parsed("84,0 85,10 84,20 84,0")) == "(valid)");
}

TEST_CASE("geo: the area rules and their messages") {
  Area two{"", {parsed("0,0 0,1 1,1 0,0"), parsed("0,0 0,1 91,1 0,0")}, {}};
  CHECK(area_error(two) == "polygon 2: point 3: latitude 91 is out of range -90..90");
  CHECK(polygon_error(parsed("0,0 0,1 1,181 0,0")) == "polygon 1: point 3: longitude 181 is out of range -180..180");
  CHECK(polygon_error(parsed("0,0 0,1 0,0")) ==
        "polygon 1: has 3 points; a polygon needs at least 4, the last equal to the first");
  CHECK(polygon_error(ring({})) == "polygon 1: has 0 points; a polygon needs at least 4, the last equal to the first");
  CHECK(polygon_error(parsed("0,0 0,1 1,1 1,0")) == "polygon 1: the last point must equal the first");
  CHECK(circle_error({{0, 0}, 0}) == "circle 1: radius 0 km is out of range (more than 0, at most 2000)");
  CHECK(circle_error({{0, 0}, -1}) == "circle 1: radius -1 km is out of range (more than 0, at most 2000)");
  CHECK(circle_error({{0, 0}, 2000.5}) == "circle 1: radius 2000.5 km is out of range (more than 0, at most 2000)");
  CHECK(circle_error({{0, 0}, 2000}) == "(valid)");
  CHECK(circle_error({{-90.5, 0}, 1}) == "circle 1: center latitude -90.5 is out of range -90..90");
  CHECK(circle_error({{0, 180.25}, 1}) == "circle 1: center longitude 180.25 is out of range -180..180");
  CHECK(area_error(Area{"x", {parsed("0,0 0,1 1,1 0,0")}, {{{1, 1}, 5}, {{1, 1}, 0}}}) ==
        "circle 2: radius 0 km is out of range (more than 0, at most 2000)");
  CHECK(area_error(Area{"Only a description", {}, {}}) == "(valid)");
  // One shape alone: no position prefix.
  CHECK(check(Circle{{0, 0}, 0}).error().message == "radius 0 km is out of range (more than 0, at most 2000)");
  CHECK(check(parsed("0,0 0,1 1,1 1,0")).error().message == "the last point must equal the first");
}

TEST_CASE("geo: bounding boxes, split at the antimeridian") {
  auto one = boxes(Area{"", {parsed("1,2 1,4 3,4 3,2 1,2")}, {}});
  REQUIRE(one.size() == 1);
  CHECK(one[0].min_lat == Approx(1));
  CHECK(one[0].max_lat == Approx(3));
  CHECK(one[0].min_lon == Approx(2));
  CHECK(one[0].max_lon == Approx(4));
  CHECK(one[0].min_lat < 1);  // a hair of margin, never less than the shape
  CHECK(one[0].max_lon > 4);

  auto split = boxes(Area{"", {across}, {}});
  REQUIRE(split.size() == 2);
  CHECK(split[0].min_lon == Approx(178));
  CHECK(split[0].max_lon == 180);
  CHECK(split[1].min_lon == -180);
  CHECK(split[1].max_lon == Approx(-178));
  for (const auto& b : split) {
    CHECK(b.min_lat == Approx(-10));
    CHECK(b.max_lat == Approx(10));
  }
  // The same ring started on the west side gives the same two boxes.
  auto west = boxes(Area{"", {parsed("-10,-178 10,-178 10,178 -10,178 -10,-178")}, {}});
  REQUIRE(west.size() == 2);
  CHECK(west[0].min_lon == Approx(178));
  CHECK(west[1].max_lon == Approx(-178));

  // A circle across the antimeridian: two boxes; one away from it: one box.
  auto circle_split = boxes(Area{"", {}, {{{0, 179.9}, 50}}});
  REQUIRE(circle_split.size() == 2);
  CHECK(circle_split[0].max_lon == 180);
  CHECK(circle_split[1].min_lon == -180);
  CHECK(circle_split[1].max_lon == Approx(-179.65).margin(0.01));  // 50 km is 0.45 degrees: 180.35
  auto circle_one = boxes(Area{"", {}, {{{0, 0}, 111.19493}}});          // one degree of arc
  REQUIRE(circle_one.size() == 1);
  CHECK(circle_one[0].min_lat == Approx(-1).margin(1e-5));
  CHECK(circle_one[0].max_lon == Approx(1).margin(1e-5));

  // Every shape's box list; none for an area without shapes.
  CHECK(boxes(Area{"", {across, parsed("1,2 1,4 3,4 3,2 1,2")}, {{{0, 0}, 1}}}).size() == 4);
  CHECK(boxes(Area{}).empty());
  for (const auto& b : boxes(Area{"", {across}, {{{0, 179.9}, 50}, {{60, 10}, 800}}})) {
    CHECK(b.min_lon >= -180);
    CHECK(b.max_lon <= 180);
    CHECK(b.min_lon <= b.max_lon);
  }
}

TEST_CASE("geo: a circle's boxes hold its whole edge, at any latitude") {
  for (Circle c : {Circle{{0, 10}, 500}, Circle{{60, 10}, 800}, Circle{{-70, 179}, 1500}, Circle{{84, -179.9}, 100},
                   Circle{{30, -179.99}, 2000}}) {
    auto bs = boxes(Area{"", {}, {c}});
    INFO("circle " << format_circle(c));
    for (int bearing = 0; bearing < 360; ++bearing) {
      Point edge = destination(c.center, bearing, c.radius_km * 1000);
      INFO("bearing " << bearing << ": " << edge.lat << "," << edge.lon);
      CHECK(in_some_box(bs, edge));
    }
  }
  // A circle over a pole (not valid for storage, but the boxes still hold it): every longitude.
  auto polar = boxes(Area{"", {}, {{{89, 0}, 300}}});
  REQUIRE(polar.size() == 1);
  CHECK(polar[0].min_lon == -180);
  CHECK(polar[0].max_lon == 180);
  CHECK(polar[0].max_lat == 90);
}

TEST_CASE("geo: CAP text forms round-trip") {
  auto c = parse_circle("32.9525,-115.5527 0");
  REQUIRE(c.ok());
  CHECK(*c == Circle{{32.9525, -115.5527}, 0});
  CHECK(format_circle(*c) == "32.9525,-115.5527 0");
  CHECK(parse_circle("  \t32.9525,-115.5527\n 12.5 ")->radius_km == 12.5);

  std::string text = "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14";
  auto p = parsed(text);
  REQUIRE(p.ring.size() == 5);
  CHECK(p.ring[1] == Point{38.34, -119.95});
  CHECK(format_polygon(p) == text);
  CHECK(format_polygon(parsed("1,2\n3,4\t5,6  1,2")) == "1,2 3,4 5,6 1,2");
  CHECK(parse_circle("+1.5,-.5 .25")->center == Point{1.5, -0.5});

  // Awkward doubles print without exponents and read back exactly.
  for (double v : {0.1 + 0.2, 1e-7, -0.000012345678901234, 179.99999999999997, 123456789.125, 5e-324, -90.0}) {
    auto s = format_number(v);
    INFO(s);
    CHECK(s.find_first_of("eE") == std::string::npos);
    Circle back{{v, v}, std::abs(v)};
    auto again = parse_circle(format_circle(back));
    REQUIRE(again.ok());
    CHECK(*again == back);
  }
  CHECK(format_number(-0.0) == "0");
  CHECK(format_number(15) == "15");
  CHECK(format_number(-0.5) == "-0.5");
}

TEST_CASE("geo: bad text forms are refused") {
  CHECK(text_error("", true) == "circle: expected \"lat,lon radius_km\", got 0 items");
  CHECK(text_error("32.9525,-115.5527", true) == "circle: expected \"lat,lon radius_km\", got 1 item");
  CHECK(text_error("32.9525 -115.5527 10", true) == "circle: expected \"lat,lon radius_km\", got 3 items");
  CHECK(text_error("32.9525;-115.5527 10", true) == "circle: \"32.9525;-115.5527\" is not \"lat,lon\"");
  CHECK(text_error("1,2,3 10", true) == "circle: \"1,2,3\" is not \"lat,lon\"");
  CHECK(text_error("north,2 10", true) == "circle: latitude \"north\" is not a number");
  CHECK(text_error("1,2 ten", true) == "circle: radius \"ten\" is not a number");
  CHECK(text_error("1e1,2 10", true) == "circle: latitude \"1e1\" is not a number");
  CHECK(text_error("nan,2 10", true) == "circle: latitude \"nan\" is not a number");
  CHECK(text_error("1,inf 10", true) == "circle: longitude \"inf\" is not a number");
  CHECK(text_error("1, 2 10", true) == "circle: expected \"lat,lon radius_km\", got 3 items");
  CHECK(text_error("1,- 10", true) == "circle: longitude \"-\" is not a number");
  CHECK(text_error("1,2 .", true) == "circle: radius \".\" is not a number");
  CHECK(text_error("1,2 0x10", true) == "circle: radius \"0x10\" is not a number");

  CHECK(text_error(" \n ", false) == "polygon: no points");
  CHECK(text_error("1,2 3,4 5;6 1,2", false) == "polygon: point 3: \"5;6\" is not \"lat,lon\"");
  CHECK(text_error("1,2 3,abc 1,2", false) == "polygon: point 2: longitude \"abc\" is not a number");
  CHECK(text_error("1,2 3,4 5,6 --1,2", false) == "polygon: point 4: latitude \"--1\" is not a number");
  auto long_word = std::string(100, '9') + "x";
  CHECK(text_error("1,2 " + long_word, false) ==
        "polygon: point 2: \"" + std::string(40, '9') + "...\" is not \"lat,lon\"");

  auto r = parse_polygon("1,2 x");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::invalid_argument);
  CHECK(r.error().field == "area");
}

}  // namespace tourbus::safety::geo_test
