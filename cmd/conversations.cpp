// tourbus conversation create|list|show|add|remove|history|search|export, and tourbus send.
// (conversation translation is in translate.cpp, with the other translation commands.)
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/json.hpp"

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {

using boost::json::object;

namespace {

std::string conversation_name(const object& o) {
  auto title = show(o.at("title"));
  return title.empty() || title == "-" ? "(" + show(o.at("kind")) + ")" : title;
}

std::string one_line(std::string text) {
  for (auto& c : text)
    if (c == '\n') c = ' ';
  return text;
}

std::vector<std::string> message_row(const object& m) {
  return {show(m.at("seq")), show(m.at("created_at")), m.at("sender").is_null() ? "*" : show(m.at("sender")),
          one_line(message_content(m))};
}

// One row per message, and one under it per machine translation it carries (the reader's
// language; every language on the control socket without --as).
int print_messages(const Globals& g, const boost::json::value& v) {
  const std::vector<std::string> headers = {"SEQ", "TIME", "FROM", "TEXT"};
  if (g.json || g.quiet) return print_list(g, v, "messages", headers, message_row);
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : v.at("messages").as_array()) {
    rows.push_back(message_row(item.as_object()));
    for (const auto& t : translation_lines(item.as_object())) rows.push_back({"", "", "", "  " + one_line(t)});
  }
  print_table(headers, rows);
  return exit_code::ok;
}

// Every message of a conversation after `after`, oldest first, page by page.
Result<std::vector<boost::json::value>> all_messages(Client& c, std::int64_t id, std::int64_t after) {
  std::vector<boost::json::value> out;
  for (;;) {
    auto page = c.call("message.history", {{"conversation", id}, {"after", after}});
    if (!page) return page.error();
    for (const auto& m : page->at("messages").as_array()) {
      out.push_back(m);
      after = m.at("seq").as_int64();
    }
    if (!page->at("more").as_bool()) return out;
  }
}

}  // namespace

void add_conversations(CLI::App& app, Globals& g, Action& action) {
  auto* conv = app.add_subcommand("conversation", "Manage conversations: direct, group and tour chats");
  conv->alias("conv");
  conv->require_subcommand(1);
  auto print_conversation = [&g](const boost::json::value& v) {
    return print_object(g, v, [](const object& o) {
      print_fields(o, {"id", "kind", "title", "owner", "tour_id", "last_seq", "last_message_at", "created_at"});
      if (o.contains("members")) {
        std::vector<std::vector<std::string>> rows;
        for (const auto& m : o.at("members").as_array())
          rows.push_back({show(m.at("handle")), show(m.at("display_name")), show(m.at("role")), show(m.at("read_seq"))});
        std::cout << "\n";
        print_table({"MEMBER", "NAME", "ROLE", "READ UP TO"}, rows);
      }
    });
  };
  {
    auto* cmd = conv->add_subcommand("create", summary("conversation.create"));
    auto kind = std::make_shared<std::string>();
    auto title = std::make_shared<std::string>();
    auto members = std::make_shared<std::vector<std::string>>();
    cmd->add_option("KIND", *kind, "direct or group")->required()->check(CLI::IsMember({"direct", "group"}));
    cmd->add_option("MEMBERS", *members, "Handles: for direct, the other person (with --as) or both people")->required();
    cmd->add_option("-t,--title", *title, "A group's title");
    cmd->callback([&g, &action, kind, title, members, print_conversation] {
      action = [&g, kind, title, members, print_conversation] {
        object body{{"kind", *kind}};
        if (!title->empty()) body["title"] = *title;
        boost::json::array list;
        for (const auto& m : *members) list.emplace_back(m);
        if (*kind == "direct" && members->size() == 1) body["with"] = members->front();
        else body["members"] = std::move(list);
        return run_call(g, [&](Client& c) { return c.call("conversation.create", body); }, print_conversation);
      };
    });
  }
  {
    auto* cmd = conv->add_subcommand("list", summary("conversation.list"));
    auto kind = std::make_shared<std::string>();
    auto user = std::make_shared<std::string>();
    auto archived = std::make_shared<bool>(false);
    cmd->add_option("-k,--kind", *kind, "Only direct, group or tour conversations");
    cmd->add_option("-u,--user", *user, "This user's conversations (default: all on the control socket, or --as's)");
    cmd->add_flag("-a,--archived", *archived, "Archived conversations instead of the others");
    cmd->callback([&g, &action, kind, user, archived] {
      action = [&g, kind, user, archived] {
        // Every page, most recently active first.
        auto all_pages = [&](Client& c) -> Result<boost::json::value> {
          boost::json::array all;
          std::string cursor;
          for (;;) {
            object q;
            if (!kind->empty()) q["kind"] = *kind;
            if (!user->empty()) q["user"] = *user;
            if (*archived) q["archived"] = true;
            if (!cursor.empty()) q["cursor"] = cursor;
            auto page = c.call("conversation.list", q);
            if (!page) return page.error();
            for (auto& conv : page->at("conversations").as_array()) all.push_back(std::move(conv));
            const auto& next = page->at("next_cursor");
            if (next.is_null()) return boost::json::value(object{{"conversations", std::move(all)}});
            cursor = std::string(next.as_string());
          }
        };
        return run_call(g, all_pages, [&](const boost::json::value& v) {
          return print_list(g, v, "conversations", {"ID", "KIND", "TITLE", "LAST SEQ", "UNREAD", "LAST MESSAGE"},
                            [](const object& o) {
                              auto last = o.at("last_message");
                              return std::vector<std::string>{
                                  show(o.at("id")), show(o.at("kind")), conversation_name(o), show(o.at("last_seq")),
                                  o.contains("unread") ? show(o.at("unread")) : "-",
                                  last.is_null() ? "-" : show(last.at("created_at"))};
                            });
        });
      };
    });
  }
  {
    auto* cmd = conv->add_subcommand("show", summary("conversation.show"));
    auto id = std::make_shared<std::int64_t>();
    cmd->add_option("ID", *id, "The conversation")->required();
    cmd->callback([&g, &action, id, print_conversation] {
      action = [&g, id, print_conversation] {
        return run_call(g, [&](Client& c) { return c.call("conversation.show", {{"id", *id}}); },
                        print_conversation);
      };
    });
  }
  for (bool add : {true, false}) {
    auto* cmd = conv->add_subcommand(add ? "add" : "remove", summary(add ? "conversation.add" : "conversation.remove"));
    auto id = std::make_shared<std::int64_t>();
    auto users = std::make_shared<std::vector<std::string>>();
    cmd->add_option("ID", *id, "The conversation")->required();
    cmd->add_option("USERS", *users, "Handles")->required();
    cmd->callback([&g, &action, id, users, add, print_conversation] {
      action = [&g, id, users, add, print_conversation] {
        boost::json::array list;
        for (const auto& u : *users) list.emplace_back(u);
        return run_call(g, [&](Client& c) {
          return c.call(add ? "conversation.add" : "conversation.remove", object{{"id", *id}, {"users", list}});
        }, print_conversation);
      };
    });
  }
  {
    auto* cmd = conv->add_subcommand("history", summary("message.history"));
    auto id = std::make_shared<std::int64_t>();
    auto after = std::make_shared<std::optional<std::int64_t>>();
    auto before = std::make_shared<std::optional<std::int64_t>>();
    auto limit = std::make_shared<std::optional<std::int64_t>>();
    cmd->add_option("ID", *id, "The conversation")->required();
    cmd->add_option("--after", *after, "Only messages after this seq, oldest first");
    cmd->add_option("--before", *before, "Only messages before this seq");
    cmd->add_option("-n,--limit", *limit, "At most this many (default and most: chat.history_page)");
    cmd->callback([&g, &action, id, after, before, limit] {
      action = [&g, id, after, before, limit] {
        object q{{"conversation", *id}};
        if (*after) q["after"] = **after;
        if (*before) q["before"] = **before;
        if (*limit) q["limit"] = **limit;
        return run_call(g, [&](Client& c) { return c.call("message.history", q); },
                        [&](const boost::json::value& v) { return print_messages(g, v); });
      };
    });
  }
  {
    auto* cmd = conv->add_subcommand("search", summary("message.search"));
    auto id = std::make_shared<std::int64_t>();
    auto words = std::make_shared<std::vector<std::string>>();
    cmd->add_option("ID", *id, "The conversation")->required();
    cmd->add_option("WORDS", *words, "Words that must all occur")->required();
    cmd->callback([&g, &action, id, words] {
      action = [&g, id, words] {
        std::string q;
        for (const auto& w : *words) q += (q.empty() ? "" : " ") + w;
        return run_call(g, [&](Client& c) {
          return c.call("message.search", {{"conversation", *id}, {"q", q}});
        }, [&](const boost::json::value& v) { return print_messages(g, v); });
      };
    });
  }
  {
    auto* cmd = conv->add_subcommand("export", "Write every message of a conversation as JSON lines, oldest first");
    auto id = std::make_shared<std::int64_t>();
    auto out = std::make_shared<std::string>("-");
    auto after = std::make_shared<std::int64_t>(0);
    cmd->add_option("ID", *id, "The conversation")->required();
    cmd->add_option("-o,--output", *out, "File to write (default: standard output)");
    cmd->add_option("--after", *after, "Only messages after this seq");
    cmd->callback([&g, &action, id, out, after] {
      action = [&g, id, out, after] {
        Client c(find_socket(g), g.as);
        auto all = all_messages(c, *id, *after);
        if (!all) return fail(g, all.error());
        std::ostringstream lines;
        for (const auto& m : *all) lines << json::dump(m) << "\n";
        if (*out == "-") {
          std::cout << lines.str();
        } else {
          std::ofstream f(*out + ".partial", std::ios::trunc);
          f << lines.str();
          f.close();
          std::error_code ec;
          if (!f) return fail(g, Error(Code::internal, "cannot write " + *out));
          std::filesystem::rename(*out + ".partial", *out, ec);
          if (ec) return fail(g, Error(Code::internal, "cannot write " + *out + ": " + ec.message()));
          if (!g.quiet) std::cerr << all->size() << " messages written to " << *out << "\n";
        }
        return exit_code::ok;
      };
    });
  }
  add_conversation_translation(*conv, g, action);
}

void add_send(CLI::App& app, Globals& g, Action& action) {
  auto* cmd = app.add_subcommand("send", summary("message.send") + "; as an operator, or --as HANDLE");
  auto id = std::make_shared<std::int64_t>();
  auto text = std::make_shared<std::string>();
  auto client_id = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  auto location = std::make_shared<std::vector<double>>();
  auto label = std::make_shared<std::string>();
  auto lang = std::make_shared<std::string>();
  auto no_translate = std::make_shared<bool>(false);
  cmd->add_option("CONVERSATION", *id, "The conversation's id")->required();
  cmd->add_option("TEXT", *text, "The message (a caption with --file); '-' reads it from standard input");
  cmd->add_option("--client-id", *client_id, "An id of your own: sending again with it never makes a second message");
  cmd->add_option("--file", *file, "Upload this file or photo and send it");
  cmd->add_option("--location", *location, "Send a location: LAT LON")->expected(2);
  cmd->add_option("--label", *label, "With --location: what the place is");
  cmd->add_option("--lang", *lang, "The language TEXT is written in, a BCP 47 tag such as es or en-GB (default: detected, "
                                   "else the sender's language); it decides what it is translated from");
  cmd->add_flag("--no-translate", *no_translate,
                "Mark the text \"do not translate\": everyone gets these exact words (a safety instruction in fixed wording)");
  cmd->callback([&g, &action, id, text, client_id, file, location, label, lang, no_translate] {
    action = [&g, id, text, client_id, file, location, label, lang, no_translate] {
      Client c(find_socket(g), g.as);
      object body;
      if (*text == "-") {
        std::ostringstream in;
        in << std::cin.rdbuf();
        *text = in.str();
      }
      if (!text->empty()) body["text"] = *text;
      if (!client_id->empty()) body["client_id"] = *client_id;
      if ((!lang->empty() || *no_translate) && (!file->empty() || !location->empty()))
        return fail(g, Error(Code::invalid_argument, "--lang and --no-translate are for text messages, not --file or --location"));
      if (!lang->empty()) body["lang"] = *lang;
      if (*no_translate) body["translate"] = false;
      if (!file->empty()) {
        std::ifstream f(*file, std::ios::binary);
        if (!f) return fail(g, Error(Code::not_found, "cannot read " + *file));
        std::ostringstream bytes;
        bytes << f.rdbuf();
        auto name = std::filesystem::path(*file).filename().string();
        auto up = c.upload("file.upload", {{"name", name}}, bytes.str());
        if (!up) return fail(g, up.error());
        body["kind"] = "file";
        body["file"] = up->at("id");
      } else if (!location->empty()) {
        body["kind"] = "location";
        body["lat"] = (*location)[0];
        body["lon"] = (*location)[1];
        if (!label->empty()) body["label"] = *label;
      } else if (text->empty()) {
        return fail(g, Error(Code::invalid_argument, "give TEXT, --file or --location"));
      }
      body["conversation"] = *id;
      auto r = c.call("message.send", body);
      if (!r) return fail(g, r.error());
      return print_object(g, *r, [](const object& o) {
        std::cout << "sent " << show(o.at("conversation")) << ":" << show(o.at("seq"))
                  << (o.at("duplicate").as_bool() ? " (already sent before)" : "") << "\n";
      });
    };
  });
}

}  // namespace tourbus::cli
