// CAP 1.2 alerts: reading a full document, the errors with their lines, the hardening against DTDs
// and entities, the XML and JSON round trips, the rules for JSON-built alerts, pick(), and the
// writer's output checked by xmllint against the official OASIS schema (tests/data/CAP-v1.2.xsd).
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "safety/cap.hpp"
#include "../support.hpp"

// Named, with the tests inside: unity builds merge test files, whose helpers must not meet.
namespace tourbus::safety::cap_test {

using namespace cap;

// Three languages, a polygon and a circle, elements the model drops, escaped text and a CDATA.
const std::string full_document = R"(<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>TB-2026-0042</identifier>
  <sender>alerts@county.example</sender>
  <sent>2026-05-04T16:00:00-07:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <source>Duty officer</source>
  <scope>Public</scope>
  <code>IPAWSv1.0</code>
  <note>Rain &amp; wind &lt;update to follow&gt;</note>
  <info>
    <language>en-US</language>
    <category>Met</category>
    <category>Safety</category>
    <event>Flash flood</event>
    <responseType>Evacuate</responseType>
    <responseType>Avoid</responseType>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <eventCode><valueName>SAME</valueName><value>FFW</value></eventCode>
    <effective>2026-05-04T16:00:00-07:00</effective>
    <expires>2026-05-04T22:00:00-07:00</expires>
    <senderName>County Emergency Office</senderName>
    <headline>Flash flood warning for the canyon</headline>
    <description>Heavy rain upstream.
Water is rising fast.</description>
    <instruction><![CDATA[Leave the canyon now & go uphill.]]></instruction>
    <web>https://county.example/alerts/42</web>
    <contact>+1 555 0100</contact>
    <parameter><valueName>WMOHEADER</valueName><value>WFUS55</value></parameter>
    <area>
      <areaDesc>Canyon and river bed</areaDesc>
      <polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14</polygon>
      <circle>38.5,-119.9 5</circle>
      <geocode><valueName>FIPS6</valueName><value>006109</value></geocode>
    </area>
  </info>
  <info>
    <language>es-MX</language>
    <category>Met</category>
    <event>Inundación repentina</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <onset>2026-05-04T16:30:00-07:00</onset>
    <headline>Aviso de inundación repentina</headline>
    <area>
      <areaDesc>Cañón y cauce del río</areaDesc>
      <polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14</polygon>
    </area>
  </info>
  <info>
    <language>fr</language>
    <category>Met</category>
    <event>Crue soudaine</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Alerte crue « soudaine »</headline>
  </info>
</alert>
)";

// A small valid alert, one element a line, so a test can replace line N and expect "line N: ".
std::vector<std::string> small_lines() {
  return {
      R"(<?xml version="1.0" encoding="UTF-8"?>)",                   // 1
      R"(<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">)",     // 2
      R"(  <identifier>TB-1</identifier>)",                          // 3
      R"(  <sender>ops@tourbus.example</sender>)",                   // 4
      R"(  <sent>2026-05-04T16:00:00+02:00</sent>)",                 // 5
      R"(  <status>Actual</status>)",                                // 6
      R"(  <msgType>Alert</msgType>)",                               // 7
      R"(  <scope>Public</scope>)",                                  // 8
      R"(  <info>)",                                                 // 9
      R"(    <category>Met</category>)",                             // 10
      R"(    <event>Storm</event>)",                                 // 11
      R"(    <urgency>Expected</urgency>)",                          // 12
      R"(    <severity>Moderate</severity>)",                        // 13
      R"(    <certainty>Likely</certainty>)",                        // 14
      R"(    <area>)",                                               // 15
      R"(      <areaDesc>Old town</areaDesc>)",                      // 16
      R"(      <circle>41.9,12.5 3</circle>)",                       // 17
      R"(    </area>)",                                              // 18
      R"(  </info>)",                                                // 19
      R"(</alert>)",                                                 // 20
  };
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// The small alert with line `n` (1-based) replaced.
std::string small_with(std::size_t n, const std::string& line) {
  auto lines = small_lines();
  lines.at(n - 1) = line;
  return join(lines);
}

Alert parsed_alert(const std::string& xml) {
  auto r = parse(xml);
  INFO((r.ok() ? "" : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

std::string parse_error(const std::string& xml) {
  auto r = parse(xml);
  if (r.ok()) return "(parsed)";
  CHECK(r.error().code == Code::invalid_argument);
  CHECK(r.error().field == "cap");
  return r.error().message;
}

std::string validate_error(const Alert& a) {
  auto s = validate(a);
  if (s.ok()) return "(valid)";
  CHECK(s.error().code == Code::invalid_argument);
  CHECK(s.error().field == "alert");
  return s.error().message;
}

// xmllint's exit status for a document against the official schema; its output goes to `log`.
int xmllint(const test::TempDir& dir, const std::string& name, const std::string& xml, std::string& log) {
  auto file = dir / name;
  auto out = dir / (name + ".log");
  std::ofstream(file, std::ios::binary) << xml;
  std::string command = std::string("xmllint --noout --schema '") + TOURBUS_SOURCE_DIR + "/tests/data/CAP-v1.2.xsd' '" +
                        file.string() + "' >'" + out.string() + "' 2>&1";
  int status = std::system(command.c_str());
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  log = text.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_CASE("cap: reads a full multi-language document") {
  auto a = parsed_alert(full_document);
  CHECK(a.identifier == "TB-2026-0042");
  CHECK(a.sender == "alerts@county.example");
  CHECK(a.sent == "2026-05-04T16:00:00-07:00");
  CHECK(a.status == "Actual");
  CHECK(a.msg_type == "Alert");
  CHECK(a.scope == "Public");
  CHECK(a.note == "Rain & wind <update to follow>");
  CHECK(a.references.empty());
  REQUIRE(a.infos.size() == 3);

  const auto& en = a.infos[0];
  CHECK(en.language == "en-US");
  CHECK(en.categories == std::vector<std::string>{"Met", "Safety"});
  CHECK(en.event == "Flash flood");
  CHECK(en.response_type == "Evacuate");  // the first of two
  CHECK(en.urgency == "Immediate");
  CHECK(en.severity == "Severe");
  CHECK(en.certainty == "Observed");
  CHECK(en.effective == "2026-05-04T16:00:00-07:00");
  CHECK_FALSE(en.onset.has_value());
  CHECK(en.expires == "2026-05-04T22:00:00-07:00");
  CHECK(en.sender_name == "County Emergency Office");
  CHECK(en.description == "Heavy rain upstream.\nWater is rising fast.");
  CHECK(en.instruction == "Leave the canyon now & go uphill.");
  CHECK(en.web == "https://county.example/alerts/42");
  CHECK(en.contact == "+1 555 0100");
  REQUIRE(en.areas.size() == 1);
  const auto& area = en.areas[0];
  CHECK(area.desc == "Canyon and river bed");
  REQUIRE(area.polygons.size() == 1);
  CHECK(area.polygons[0].ring.size() == 5);
  CHECK(area.polygons[0].ring[2] == geo::Point{38.52, -119.74});
  REQUIRE(area.circles.size() == 1);
  CHECK(area.circles[0] == geo::Circle{{38.5, -119.9}, 5});
  CHECK(area.contains({38.5, -119.9}));
  CHECK_FALSE(area.contains({40, -119.9}));

  CHECK(a.infos[1].language == "es-MX");
  CHECK(a.infos[1].event == "Inundación repentina");
  CHECK(a.infos[1].onset == "2026-05-04T16:30:00-07:00");
  CHECK(a.infos[1].areas.at(0).desc == "Cañón y cauce del río");
  CHECK(a.infos[2].language == "fr");
  CHECK(a.infos[2].headline == "Alerte crue « soudaine »");
  CHECK(a.infos[2].areas.empty());
  CHECK(validate(a).ok());

  // An info without <language> is en-US, as CAP says.
  CHECK(parsed_alert(join(small_lines())).infos.at(0).language == "en-US");
}

TEST_CASE("cap: to_xml reads back the same alert, and JSON too") {
  auto a = parsed_alert(full_document);
  auto xml = to_xml(a);
  CHECK(xml.find(R"(<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">)") != std::string::npos);
  CHECK(xml.find("encoding=\"UTF-8\"") != std::string::npos);
  CHECK(xml.find("<note>Rain &amp; wind &lt;update to follow&gt;</note>") != std::string::npos);
  CHECK(xml.find("<restriction>") == std::string::npos);  // empty optional fields are left out
  CHECK(parsed_alert(xml) == a);

  // Awkward text survives: leading blanks, CR, quotes, markup, "]]>".
  Alert b = a;
  b.infos[0].description = "  indented\r\nline two \"quoted\" <b>not markup</b> ]]> & done\n";
  b.infos[0].headline = "\t";
  b.infos[1].areas[0].circles.push_back({{0.1 + 0.2, -179.99999999999997}, 1e-3});
  b.note.clear();
  b.references = "alerts@county.example,TB-2026-0041,2026-05-04T15:00:00-07:00";
  b.msg_type = "Update";
  REQUIRE(validate(b).ok());
  CHECK(parsed_alert(to_xml(b)) == b);

  // JSON mirrors CAP's element names and reads back the same.
  auto json = to_json(b);
  CHECK(json.at("msgType") == "Update");
  CHECK(json.at("info").at(0).at("category").at(1) == "Safety");
  CHECK(json.at("info").at(0).at("responseType") == "Evacuate");
  CHECK(json.at("info").at(0).at("area").at(0).at("areaDesc") == "Canyon and river bed");
  CHECK(json.at("info").at(0).at("area").at(0).at("polygon").at(0) ==
        "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14");
  CHECK(json.at("info").at(0).at("area").at(0).at("circle").at(0) == "38.5,-119.9 5");
  CHECK_FALSE(json.at("info").at(0).as_object().contains("onset"));
  CHECK_FALSE(json.as_object().contains("note"));
  auto back = from_json(boost::json::parse(boost::json::serialize(json)));
  REQUIRE(back.ok());
  CHECK(*back == b);
}

TEST_CASE("cap: malformed XML is refused with its line") {
  CHECK(parse_error(small_with(6, "  <status>Actual</statuss>")).starts_with("line 6: malformed XML: "));
  CHECK(parse_error(small_with(12, "    <urgency>Expected</urgency x>")) == "line 12: malformed XML: expected '>'");
  // The line is where libxml2 notices: here at the next tag.
  CHECK(parse_error(small_with(12, "    <urgency>Expected</urgency")) == "line 13: malformed XML: expected '>'");
  CHECK(parse_error(small_with(11, "    <event>Storm & rain</event>")).starts_with("line 11: malformed XML: "));
  // An entity nobody declared: an error, never expanded.
  CHECK(parse_error(small_with(11, "    <event>&storm;</event>")).starts_with("line 11: malformed XML: "));
  auto truncated = join(small_lines()).substr(0, join(small_lines()).find("</info>"));
  CHECK(parse_error(truncated).starts_with("line 19: malformed XML: "));
  CHECK(parse_error("").starts_with("line 1: malformed XML: "));
  CHECK(parse_error("not xml").starts_with("line 1: malformed XML: "));
}

TEST_CASE("cap: bad values are refused naming their line") {
  CHECK(parse_error(small_with(12, "    <urgency>Soon</urgency>")) ==
        "line 12: <urgency> must be Immediate, Expected, Future, Past or Unknown");
  CHECK(parse_error(small_with(6, "  <status>actual</status>")) ==
        "line 6: <status> must be Actual, Exercise, System, Test or Draft");
  CHECK(parse_error(small_with(10, "    <category>Weather</category>")) ==
        "line 10: <category> must be Geo, Met, Safety, Security, Rescue, Fire, Health, Env, Transport, Infra, CBRNE or "
        "Other");
  CHECK(parse_error(small_with(13, "    <severity>Bad</severity>")) ==
        "line 13: <severity> must be Extreme, Severe, Moderate, Minor or Unknown");
  CHECK(parse_error(small_with(14, "    <certainty>Sure</certainty>")) ==
        "line 14: <certainty> must be Observed, Likely, Possible, Unlikely or Unknown");
  CHECK(parse_error(small_with(8, "  <scope>Everyone</scope>")) == "line 8: <scope> must be Public, Restricted or Private");
  CHECK(parse_error(small_with(7, "  <msgType>Notice</msgType>")) ==
        "line 7: <msgType> must be Alert, Update, Cancel, Ack or Error");
  CHECK(parse_error(small_with(3, "  <identifier>TB 1</identifier>")) ==
        "line 3: <identifier> must not contain white space, commas, < or &");
  CHECK(parse_error(small_with(4, "  <sender>a,b</sender>")) ==
        "line 4: <sender> must not contain white space, commas, < or &");
  CHECK(parse_error(small_with(4, "  <sender>a&amp;b</sender>")) ==
        "line 4: <sender> must not contain white space, commas, < or &");
  const std::string bad_time =
      " must be a date and time like 2026-05-04T16:00:00-07:00 (YYYY-MM-DDThh:mm:ss and a +hh:mm or -hh:mm offset; "
      "CAP does not allow Z)";
  CHECK(parse_error(small_with(5, "  <sent>2026-05-04T14:00:00Z</sent>")) == "line 5: <sent>" + bad_time);
  CHECK(parse_error(small_with(5, "  <sent>2026-05-04 14:00:00+02:00</sent>")) == "line 5: <sent>" + bad_time);
  CHECK(parse_error(small_with(5, "  <sent>2026-02-30T14:00:00+02:00</sent>")) == "line 5: <sent>" + bad_time);
  CHECK(parse_error(small_with(5, "  <sent>2026-05-04T24:00:00+02:00</sent>")) == "line 5: <sent>" + bad_time);
  CHECK(parse_error(small_with(5, "  <sent>2028-02-29T14:00:00+02:00</sent>")) == "(parsed)");  // a leap day
  CHECK(parse_error(small_with(5, "  <sent> 2026-05-04T14:00:00-00:00 </sent>")) == "(parsed)");
  CHECK(parse_error(small_with(11, "    <event>Storm</event><effective>soon</effective>")) ==
        "line 11: <effective>" + bad_time);
  CHECK(parse_error(small_with(10, "    <category>Met</category><language>en US</language>")) ==
        "line 10: <language> must be a language tag like en-US");
  CHECK(parse_error(small_with(11, "    <event>Storm</event><responseType>Run</responseType>")) ==
        "line 11: <responseType> must be Shelter, Evacuate, Prepare, Execute, Avoid, Monitor, Assess, AllClear or None");
  CHECK(parse_error(small_with(17, "      <circle>41.9,12.5 0</circle>")) ==
        "line 17: <circle>: radius 0 km is out of range (more than 0, at most 2000)");
  CHECK(parse_error(small_with(17, "      <circle>41.9;12.5 3</circle>")) ==
        "line 17: <circle>: \"41.9;12.5\" is not \"lat,lon\"");
  CHECK(parse_error(small_with(17, "      <polygon>0,0 0,1 91,1 0,0</polygon>")) ==
        "line 17: <polygon>: point 3: latitude 91 is out of range -90..90");
  CHECK(parse_error(small_with(17, "      <polygon>80,0 80,90 80,180 80,-90 80,0</polygon>")) ==
        "line 17: <polygon>: goes around a pole (areas around the poles are not supported)");
  CHECK(parse_error(small_with(17, "      <polygon>0,0 0,1 x,1 0,0</polygon>")) ==
        "line 17: <polygon>: point 3: latitude \"x\" is not a number");
}

TEST_CASE("cap: required elements and repeated ones") {
  CHECK(parse_error(small_with(3, "")) == "line 2: <alert> has no <identifier>");
  CHECK(parse_error(small_with(5, "")) == "line 2: <alert> has no <sent>");
  CHECK(parse_error(small_with(8, "")) == "line 2: <alert> has no <scope>");
  CHECK(parse_error(small_with(3, "  <identifier> </identifier>")) == "line 3: <identifier> is empty");
  CHECK(parse_error(small_with(10, "")) == "line 9: <info> has no <category>");
  CHECK(parse_error(small_with(11, "")) == "line 9: <info> has no <event>");
  CHECK(parse_error(small_with(12, "")) == "line 9: <info> has no <urgency>");
  CHECK(parse_error(small_with(14, "")) == "line 9: <info> has no <certainty>");
  CHECK(parse_error(small_with(16, "")) == "line 15: <area> has no <areaDesc>");
  CHECK(parse_error(small_with(16, "      <areaDesc></areaDesc>")) == "line 16: <areaDesc> is empty");
  CHECK(parse_error(small_with(7, "  <msgType>Alert</msgType><msgType>Alert</msgType>")) ==
        "line 7: <msgType> may appear only once");
  CHECK(parse_error(small_with(11, "    <event>Storm</event><event>Rain</event>")) ==
        "line 11: <event> may appear only once");
  // Elements the model does not hold, and elements of other namespaces, are passed over.
  CHECK(parse_error(small_with(11, "    <event>Storm</event><audience>all</audience><x:event xmlns:x='urn:x'>No</x:event>")) ==
        "(parsed)");
  CHECK(parse_error(small_with(8, "  <scope>Private</scope>")) == "line 8: <scope> Private needs <addresses>");
}

TEST_CASE("cap: the root must be a CAP 1.2 alert") {
  CHECK(parse_error(small_with(2, R"(<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1">)")) ==
        "line 2: the root element must be <alert> in the namespace urn:oasis:names:tc:emergency:cap:1.2, found <alert> "
        "in urn:oasis:names:tc:emergency:cap:1.1");
  CHECK(parse_error(small_with(2, "<alert>")) ==
        "line 2: the root element must be <alert> in the namespace urn:oasis:names:tc:emergency:cap:1.2, found <alert> "
        "without a namespace");
  CHECK(parse_error("<feed xmlns='http://www.w3.org/2005/Atom'/>") ==
        "line 1: the root element must be <alert> in the namespace urn:oasis:names:tc:emergency:cap:1.2, found <feed> "
        "in http://www.w3.org/2005/Atom");
  // A prefixed CAP namespace is the same namespace.
  auto prefixed = join(small_lines());
  for (auto pos = prefixed.find('<'); pos != std::string::npos; pos = prefixed.find('<', pos + 1)) {
    if (prefixed[pos + 1] == '?') continue;
    prefixed.insert(prefixed[pos + 1] == '/' ? pos + 2 : pos + 1, "cap:");
  }
  auto at = prefixed.find("xmlns=");
  prefixed.replace(at, 6, "xmlns:cap=");
  CHECK(parsed_alert(prefixed) == parsed_alert(join(small_lines())));
}

TEST_CASE("cap: DTDs and entities are refused") {
  const std::string laughs = R"(<?xml version="1.0"?>
<!DOCTYPE alert [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>
)";
  CHECK(parse_error(laughs) == "line 2: a DOCTYPE is not allowed in a CAP document (DTDs and entities are refused)");
  const std::string xxe = R"(<?xml version="1.0"?>

<!DOCTYPE alert SYSTEM "file:///etc/passwd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><note>&xxe;</note></alert>
)";
  CHECK(parse_error(xxe) == "line 3: a DOCTYPE is not allowed in a CAP document (DTDs and entities are refused)");
  // Character references are plain XML, not entities.
  CHECK(parsed_alert(small_with(11, "    <event>Storm &#x26; &#38; &lt;rain&gt;</event>")).infos[0].event ==
        "Storm & & <rain>");

  auto big = parse(std::string(max_document_bytes + 1, ' '));
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().code == Code::payload_too_large);
}

TEST_CASE("cap: Update and Cancel need references") {
  CHECK(parse_error(small_with(7, "  <msgType>Update</msgType>")) ==
        "line 7: <msgType> Update needs <references> (the alerts it updates)");
  CHECK(parse_error(small_with(7, "  <msgType>Cancel</msgType>")) ==
        "line 7: <msgType> Cancel needs <references> (the alerts it cancels)");
  CHECK(parse_error(small_with(
            7, "  <msgType>Update</msgType><references>ops@tourbus.example,TB-0,2026-05-04T15:00:00+02:00</references>")) ==
        "(parsed)");

  auto a = parsed_alert(join(small_lines()));
  a.msg_type = "Update";
  CHECK(validate_error(a) == "msgType Update needs references (the alerts it updates)");
}

TEST_CASE("cap: validate names the JSON field") {
  const auto good = parsed_alert(full_document);
  REQUIRE(validate(good).ok());
  auto with = [&](auto change) {
    Alert a = good;
    change(a);
    return validate_error(a);
  };
  CHECK(with([](Alert& a) { a.identifier.clear(); }) == "identifier is required");
  CHECK(with([](Alert& a) { a.sender = "a b"; }) == "sender must not contain white space, commas, < or &");
  CHECK(with([](Alert& a) { a.sent = "2026-05-04T16:00:00Z"; }).starts_with("sent must be a date and time like "));
  CHECK(with([](Alert& a) { a.status = " Actual"; }) == "status must not start or end with white space");
  CHECK(with([](Alert& a) { a.infos[0].urgency = "Soon"; }) ==
        "info[0].urgency must be Immediate, Expected, Future, Past or Unknown");
  CHECK(with([](Alert& a) { a.infos[1].categories.clear(); }) == "info[1].category is required");
  CHECK(with([](Alert& a) { a.infos[0].categories[1] = "Weather"; }).starts_with("info[0].category[1] must be Geo, "));
  CHECK(with([](Alert& a) { a.infos[2].event.clear(); }) == "info[2].event is required");
  CHECK(with([](Alert& a) { a.infos[2].language = "français"; }) == "info[2].language must be a language tag like en-US");
  CHECK(with([](Alert& a) { a.infos[2].language = "fr_FR"; }) == "info[2].language must be a language tag like en-US");
  CHECK(with([](Alert& a) { a.infos[0].onset = ""; }).starts_with("info[0].onset must be a date and time like "));
  CHECK(with([](Alert& a) { a.infos[0].description = "bell \a"; }) ==
        "info[0].description must be UTF-8 text without control characters");
  CHECK(with([](Alert& a) { a.infos[0].headline = "bad \xff utf-8"; }) ==
        "info[0].headline must be UTF-8 text without control characters");
  CHECK(with([](Alert& a) { a.infos[1].areas[0].desc.clear(); }) == "info[1].area[0].areaDesc is required");
  CHECK(with([](Alert& a) { a.infos[1].areas[0].polygons[0].ring[2].lat = 91; }) ==
        "info[1].area[0].polygon[0]: point 3: latitude 91 is out of range -90..90");
  CHECK(with([](Alert& a) { a.infos[0].areas[0].circles[0].radius_km = 5000; }) ==
        "info[0].area[0].circle[0]: radius 5000 km is out of range (more than 0, at most 2000)");
  CHECK(with([](Alert& a) { a.scope = "Private"; }) == "scope Private needs addresses");
  CHECK(with([](Alert& a) { a.infos.clear(); }) == "(valid)");  // CAP allows an alert without info
}

TEST_CASE("cap: from_json checks the shape") {
  auto error_of = [](std::string_view text) {
    auto r = from_json(boost::json::parse(text));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().field == "alert");
    return std::pair(r.error().code, r.error().message);
  };
  CHECK(error_of("[]") == std::pair(Code::invalid_json, std::string("alert must be an object")));
  CHECK(error_of(R"({"identifier": 5})") == std::pair(Code::invalid_json, std::string("identifier must be a string")));
  CHECK(error_of(R"({"colour": "red"})") == std::pair(Code::unknown_field, std::string("colour is not a CAP field")));
  CHECK(error_of(R"({"info": [{"category": "Met"}]})") ==
        std::pair(Code::invalid_json, std::string("info[0].category must be an array of strings")));
  CHECK(error_of(R"({"info": [1]})") == std::pair(Code::invalid_json, std::string("info must be an array of objects")));
  CHECK(error_of(R"({"info": [{"area": [{"areaDesc": "x", "geocode": []}]}]})") ==
        std::pair(Code::unknown_field, std::string("info[0].area[0].geocode is not a CAP field")));
  CHECK(error_of(R"({"info": [{}, {"area": [{"areaDesc": "x", "polygon": ["1,2 3;4"]}]}]})") ==
        std::pair(Code::invalid_argument, std::string("info[1].area[0].polygon[0]: point 2: \"3;4\" is not \"lat,lon\"")));
  CHECK(error_of(R"({"info": [{"area": [{"circle": ["1,2"]}]}]})") ==
        std::pair(Code::invalid_argument,
                  std::string("info[0].area[0].circle[0]: expected \"lat,lon radius_km\", got 1 item")));

  // Absent keys and nulls are empty; shape only, so this needs validate() to be refused.
  auto sparse = from_json(boost::json::parse(R"({"identifier": "x", "note": null, "info": [{"onset": null}]})"));
  REQUIRE(sparse.ok());
  CHECK(sparse->identifier == "x");
  REQUIRE(sparse->infos.size() == 1);
  CHECK(sparse->infos[0].language == "en-US");
  CHECK_FALSE(sparse->infos[0].onset.has_value());
  CHECK(validate_error(*sparse) == "sender is required");
}

TEST_CASE("cap: pick chooses the info block like templates") {
  Alert a;
  for (auto lang : {"en-US", "es-ES", "es", "pt-BR", "fr-CA"}) {
    Info i;
    i.language = lang;
    a.infos.push_back(i);
  }
  auto picked = [&](std::string_view language, std::string_view fallback) { return pick(a, language, fallback).language; };
  CHECK(picked("es-ES", "en") == "es-ES");  // exact
  CHECK(picked("ES-es", "en") == "es-ES");  // case-insensitive
  CHECK(picked("es_es", "en") == "es-ES");  // POSIX-style separator
  CHECK(picked("es-MX", "en") == "es");     // same primary subtag: the bare one first
  CHECK(picked("pt-PT", "en") == "pt-BR");  // same primary subtag: the first with it
  CHECK(picked("pt", "en") == "pt-BR");
  CHECK(picked("fr", "en") == "fr-CA");
  CHECK(picked("de-DE", "fr") == "fr-CA");  // the fallback language, by the same rules
  CHECK(picked("de-DE", "en-GB") == "en-US");
  CHECK(picked("de-DE", "it") == "en-US");  // else the first block
  CHECK(picked("", "") == "en-US");
  CHECK(&pick(a, "pt-BR", "en") == &a.infos[3]);

  // Among equal matches the earlier block wins.
  Alert twice;
  twice.infos.resize(2);
  twice.infos[0].headline = "first";
  twice.infos[1].headline = "second";
  CHECK(pick(twice, "en-us", "").headline == "first");
  CHECK(pick(twice, "en-GB", "").headline == "first");
}

TEST_CASE("cap: to_xml output is valid against the OASIS CAP 1.2 schema") {
  test::TempDir dir;
  std::string log;
  auto a = parsed_alert(full_document);
  a.msg_type = "Update";
  a.references = "alerts@county.example,TB-2026-0041,2026-05-04T15:00:00-07:00";
  a.restriction = "Staff only";
  a.addresses = "ops@county.example";
  a.infos[2].areas.push_back({"Everywhere «here»", {}, {{{0, 179.9}, 50}, {{-33.5, 151.25}, 0.125}}});
  INFO(to_xml(a));
  int status = xmllint(dir, "alert.xml", to_xml(a), log);
  INFO(log);
  CHECK(status == 0);
  CHECK(log.find("validates") != std::string::npos);
  CHECK(xmllint(dir, "small.xml", to_xml(parsed_alert(join(small_lines()))), log) == 0);
  CHECK(xmllint(dir, "fixture.xml", full_document, log) == 0);

  // The check can fail: a value outside the enumeration, and elements out of the schema's order.
  Alert bad = a;
  bad.infos[0].urgency = "Soon";
  CHECK(xmllint(dir, "bad-urgency.xml", to_xml(bad), log) != 0);
  CHECK(log.find("urgency") != std::string::npos);
  auto lines = small_lines();
  std::swap(lines[5], lines[6]);  // msgType before status
  CHECK(parse_error(join(lines)) == "(parsed)");  // the reader does not check the order
  CHECK(xmllint(dir, "out-of-order.xml", join(lines), log) != 0);
}

}  // namespace tourbus::safety::cap_test
