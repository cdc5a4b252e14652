// CAP 1.2 (OASIS Common Alerting Protocol) alerts: the model, the XML reader and writer (libxml2),
// the rules an alert must follow, its JSON form for storage, and the choice of an info block by
// language.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "core/error.hpp"
#include "safety/geo.hpp"

namespace tourbus::safety::cap {

inline constexpr std::string_view ns = "urn:oasis:names:tc:emergency:cap:1.2";
inline constexpr std::size_t max_document_bytes = 1 << 20;

// One <info> block: the alert in one language. Empty strings are absent optional elements.
// CAP allows several <responseType>; only the first is kept.
struct Info {
  std::string language = "en-US";
  std::vector<std::string> categories;
  std::string event, response_type, urgency, severity, certainty, sender_name, headline, description, instruction,
      web, contact;
  std::optional<std::string> effective, onset, expires;  // CAP dateTime text, as sent
  std::vector<geo::Area> areas;
  bool operator==(const Info&) const = default;
};

// One <alert>. Times stay in CAP's text form ("2026-05-04T16:00:00-07:00").
struct Alert {
  std::string identifier, sender, sent, status, msg_type, scope, restriction, addresses, note, references;
  std::vector<Info> infos;
  bool operator==(const Alert&) const = default;
};

// Reads a CAP 1.2 document. The root must be <alert> in the namespace `ns`. Safe on untrusted input:
// at most max_document_bytes (else Code::payload_too_large), no network, no DTD loading, no entity
// expansion, and a document with a DOCTYPE is refused outright (XXE, billion laughs).
// Checked: the rules of validate() below, plus well-formedness. Not checked: element order, and
// elements this model does not hold (source, code, incidents, audience, eventCode, parameter,
// resource, geocode, altitude, ceiling, a Signature, ...), which are accepted and dropped. Text of
// enumerations, identifiers, times, languages, polygons and circles is trimmed of white space;
// free text (headline, description, ...) is kept as it is.
// Errors: Code::invalid_argument, field "cap", the message starting with the line:
//   "line 12: <urgency> must be Immediate, Expected, Future, Past or Unknown"
//   "line 7: malformed XML: Opening and ending tag mismatch: event line 6 and info"
//   "line 2: a DOCTYPE is not allowed in a CAP document"
//   "line 3: <info> has no <urgency>"
//   "line 20: <polygon>: point 3: latitude 91 is out of range -90..90"
// Thread-safe: each call has its own libxml2 parser context.
Result<Alert> parse(std::string_view xml);

// The CAP 1.2 document for an alert that passes validate(): UTF-8, the elements in the schema's
// order, empty optional fields left out, text escaped by libxml2. Thread-safe.
std::string to_xml(const Alert& alert);

// The rules parse() applies, for an alert built another way (from JSON). Errors:
// Code::invalid_argument, field "alert", the message naming the JSON field:
//   "identifier is required"
//   "info[0].urgency must be Immediate, Expected, Future, Past or Unknown"
//   "msgType Update needs references (the alerts it updates)"
//   "info[1].area[0].polygon[0]: point 3: latitude 91 is out of range -90..90"
// The rules: identifier, sender, sent, status, msgType and scope are required; identifier and
// sender hold no white space, commas, '<' or '&'; status, msgType, scope, category, responseType,
// urgency, severity and certainty are CAP's enumerations; sent, effective, onset and expires are
// YYYY-MM-DDThh:mm:ss with a +hh:mm or -hh:mm offset (no "Z", as CAP says); Update and Cancel
// need references; Private scope needs addresses; an info needs a category, event, urgency,
// severity and certainty, and a language that is a language tag; an area needs areaDesc and
// shapes that pass geo::check(); all text is UTF-8 without control characters (tab, CR and LF
// allowed).
Status validate(const Alert& alert);

// The alert as JSON, keys named after CAP's elements: identifier, sender, sent, status, msgType,
// scope, restriction, addresses, note, references, info: [{language, category: [...], event,
// responseType, urgency, severity, certainty, senderName, headline, description, instruction,
// web, contact, effective, onset, expires, area: [{areaDesc, polygon: ["lat,lon ..."],
// circle: ["lat,lon r"]}]}]. Empty optional strings and absent times are left out.
boost::json::value to_json(const Alert& alert);

// Reads to_json()'s form. Checks the shape only (an object, strings where strings go, polygons
// and circles that parse); absent keys and nulls are empty, an absent language is "en-US"; call
// validate() for the rules. Errors: Code::invalid_json for a wrong type ("info[0].category must
// be an array of strings"), Code::unknown_field for a key CAP does not have ("info[0].colour is not
// a CAP field"), Code::invalid_argument for a shape that does not parse; field "alert".
Result<Alert> from_json(const boost::json::value& json);

// The info block to show a person, tags compared case-insensitively:
//   1. a block whose language is `language` exactly ("es-MX");
//   2. else one with the same primary subtag: the bare primary ("es") first, then the first with
//      it ("es-ES");
//   3. else the same two steps for `fallback`;
//   4. else the first block.
// Among equals the earlier block wins. The alert must have at least one info block.
const Info& pick(const Alert& alert, std::string_view language, std::string_view fallback);

}  // namespace tourbus::safety::cap
