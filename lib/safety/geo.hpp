// Geometry of alert areas on the sphere: CAP polygons and circles, point-in-area tests, bounding
// boxes for an SQL prefilter, validation, and CAP's text forms ("lat,lon lat,lon ...").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tourbus::safety::geo {

// Degrees, WGS 84 as CAP uses them: latitude north positive, longitude east positive.
struct Point {
  double lat = 0, lon = 0;
  bool operator==(const Point&) const = default;
};

struct Circle {
  Point center;
  double radius_km = 0;
  bool operator==(const Circle&) const = default;
};

// A ring of points, the first equal to the last (CAP). Edges are straight lines in the plane of
// latitude and longitude (as CAP tools draw them), not great-circle arcs; an edge whose longitudes
// differ by more than 180 degrees crosses the antimeridian (179 -> -179 is 2 degrees east).
struct Polygon {
  std::vector<Point> ring;
  bool operator==(const Polygon&) const = default;
};

// One CAP <area>: a point is inside when it is inside any of its polygons or circles. An area
// with neither (a description, geocodes) contains no point.
struct Area {
  std::string desc;
  std::vector<Polygon> polygons;
  std::vector<Circle> circles;

  bool contains(Point p) const;
  bool operator==(const Area&) const = default;
};

// Mean Earth radius (IUGG), used by every distance here.
inline constexpr double earth_radius_m = 6'371'008.8;

// Great-circle distance in metres (haversine).
double distance_m(Point a, Point b);

// Within the radius by great-circle distance, the edge included.
bool in_circle(Point p, const Circle& c);

// Ray casting on the ring with its longitudes unwrapped (each vertex within 180 degrees of the one
// before), the point tried at lon, lon + 360 and lon - 360, so a ring that crosses the antimeridian
// works. A point exactly on an edge or vertex may be found inside or outside. Expects a ring that
// passes check(); any ring gives an answer, a meaningless one for rings around a pole.
bool in_polygon(Point p, const Polygon& polygon);

// A latitude/longitude rectangle, longitudes within [-180, 180], min <= max.
struct Box {
  double min_lat = 0, max_lat = 0, min_lon = 0, max_lon = 0;
  bool operator==(const Box&) const = default;
};

// Rectangles that together hold every point of the area, for a coarse
// `lat BETWEEN min_lat AND max_lat AND lon BETWEEN min_lon AND max_lon` before contains().
// One per polygon or circle, two when it crosses the antimeridian (one on each side); none for an
// area without shapes. A circle's box holds the whole spherical cap (its widest longitude is at
// its tangent points, not at the centre's latitude), so the prefilter never drops a point that
// contains() would keep; a circle over a pole gets every longitude. Boxes may overlap.
std::vector<Box> boxes(const Area& area);

// The rules an area must follow to be stored or sent. Errors are Code::invalid_argument with field
// "area" and a message a person can act on, naming the shape and point by 1-based position:
//   "polygon 2: point 3: latitude 91 is out of range -90..90"
//   "polygon 1: has 3 points; a polygon needs at least 4, the last equal to the first"
//   "polygon 1: the last point must equal the first"
//   "polygon 1: point 2: latitude 86 is too close to a pole (areas beyond 85 degrees are not supported)"
//   "polygon 1: goes around a pole (areas around the poles are not supported)"
//   "circle 1: radius 0 km is out of range (more than 0, at most 2000)"
//   "circle 1: reaches beyond latitude 85 (areas near the poles are not supported)"
// Areas near the poles are refused rather than handled: the flat-plane polygon rule and the
// bounding boxes are not trustworthy there, and tourists rarely go.
Status check(const Area& area);
// The same rules for one shape; the message has no "polygon N: " / "circle N: " prefix.
Status check(const Polygon& polygon);
Status check(const Circle& circle);

inline constexpr double max_radius_km = 2000;
inline constexpr double max_abs_lat = 85;

// CAP's text forms. Syntax only: numbers are decimal ("-115.5527", "+12", "0.5"; no exponents,
// no inf or nan), the pair "lat,lon" has no blanks inside, pairs and the radius are separated by
// white space; the ranges are check()'s job. Errors: Code::invalid_argument, field "area":
//   "circle: expected \"lat,lon radius_km\", got 2 items"
//   "polygon: point 3: \"12.5;3\" is not \"lat,lon\""
//   "polygon: point 2: longitude \"abc\" is not a number"
// A circle: "lat,lon radius_km", e.g. "32.9525,-115.5527 0".
Result<Circle> parse_circle(std::string_view text);
// A polygon: "lat,lon lat,lon ...", at least one pair (check() wants 4).
Result<Polygon> parse_polygon(std::string_view text);
// Back to text, each number the shortest decimal (never an exponent) that reads back as the same
// double: parse_circle(format_circle(c)) == c.
std::string format_circle(const Circle& circle);
std::string format_polygon(const Polygon& polygon);
// A number as above ("12", "-0.5", "0.0001"); -0 is written "0".
std::string format_number(double value);

}  // namespace tourbus::safety::geo
