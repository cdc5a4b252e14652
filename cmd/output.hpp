// How the CLI prints: tables and key/value blocks for people, one JSON document (or JSON lines for
// lists) with --json, errors on stderr with the exit code of their API error code.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "client.hpp"
#include "core/error.hpp"

namespace tourbus::cli {

// Prints "tourbus: message" on stderr (and the error document on stdout with --json) and
// returns the exit code for the error.
int fail(const Globals& g, const Error& e);

// A JSON value as text without quotes for strings, "-" for null.
std::string show(const boost::json::value& v);
// A number field of an answer (integer or not); nothing when absent or not a number.
std::optional<double> number_of(const boost::json::object& o, std::string_view key);

// A message's content in one line of text: "(deleted)", "[location 41.9,12.5 Trevi] caption",
// "[file menu.pdf, 5120 bytes, id 7] caption", or its text.
std::string message_content(const boost::json::object& m);

// How a machine translation is labelled wherever it is shown: "es→en (machine)", or through a
// pivot language "es→it→en (machine)". `from` and `pivot` may be null.
std::string translation_label(const boost::json::value& from, std::string_view to, const boost::json::value& pivot);
// The machine translations a message carries (its `translations`), one line each:
// "↳ es→en (machine): text".
std::vector<std::string> translation_lines(const boost::json::object& m);

void print_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);
// "key: value" lines, in the order given.
void print_fields(const boost::json::object& o, const std::vector<std::string>& keys);

// Prints an object result: JSON with --json, else with `human`. Returns 0.
int print_object(const Globals& g, const boost::json::value& v, const std::function<void(const boost::json::object&)>& human);
// Prints the array `key` of a list result: JSON lines with --json, else a table with `headers`
// whose rows `row` makes from each item.
int print_list(const Globals& g, const boost::json::value& v, std::string_view key,
               const std::vector<std::string>& headers,
               const std::function<std::vector<std::string>(const boost::json::object&)>& row);

// Runs an API call and prints its result with the given printer; the usual shape of a command.
int run_call(const Globals& g, const std::function<Result<boost::json::value>(Client&)>& call,
             const std::function<int(const boost::json::value&)>& print);

}  // namespace tourbus::cli
