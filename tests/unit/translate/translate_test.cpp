// Translation without engines: language codes and detection, what placeholders protect and how
// they come back, which engines a pair goes to, and the tables (translations, retries, notices,
// glossary, switches) on a real database with the migrations applied.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "../support.hpp"
#include "chat/conversations.hpp"
#include "chat/messages.hpp"
#include "chat/posting.hpp"
#include "core/config.hpp"
#include "store/database.hpp"
#include "store/users.hpp"
#include "store/writer.hpp"
#include "translate/language.hpp"
#include "translate/protect.hpp"
#include "translate/translations.hpp"
#include "translate/translator.hpp"

using namespace tourbus;

TEST_CASE("language tags reduce to their primary subtag and map to Apertium's codes", "[translate]") {
  CHECK(translate::primary("es-MX") == "es");
  CHECK(translate::primary("PT_br") == "pt");
  CHECK(translate::primary("en") == "en");
  CHECK(translate::primary("ast") == "ast");
  CHECK(translate::primary("e") == "");
  CHECK(translate::primary("english") == "");
  CHECK(translate::primary("12") == "");
  CHECK(translate::iso3("es") == "spa");
  CHECK(translate::iso3("it") == "ita");
  CHECK(translate::iso3("xx") == "");
  CHECK(translate::iso1("spa") == "es");
  CHECK(translate::iso1("cat") == "ca");
  CHECK(translate::iso1("cat_iec2017") == "");  // a variant mode, not a language
  CHECK(translate::machine_label("it") == "Traduzione automatica");
  CHECK(translate::machine_label("xx") == "Machine translation");
}

TEST_CASE("chat lines are detected from their common words and letters, or not at all", "[translate]") {
  struct Case {
    std::string text, lang;
  };
  for (const auto& c : std::vector<Case>{
           {"¿Dónde está el autobús? Estamos en la plaza", "es"},
           {"Hola, gracias por la visita de hoy", "es"},
           {"Where is the bus? We are at the square", "en"},
           {"Thank you, see you at the hotel", "en"},
           {"Wo ist der Bus? Wir sind am Platz, danke", "de"},
           {"Dov'è il pullman? Siamo in piazza, grazie mille", "it"},
           {"Où est le bus ? Nous sommes sur la place, merci", "fr"},
           {"Onde está o ônibus? Estamos na praça, obrigado", "pt"},
       }) {
    INFO(c.text);
    auto d = translate::detect(c.text);
    REQUIRE(d);
    CHECK(d->lang == c.lang);
    CHECK(d->confidence >= 1.0 / 3);
  }
  // Too little to go on: the sender's language is used instead.
  CHECK_FALSE(translate::detect("ok"));
  CHECK_FALSE(translate::detect("Colosseo 9:30"));
  CHECK_FALSE(translate::detect("👍"));
  CHECK_FALSE(translate::detect(""));
}

TEST_CASE("URLs, addresses, mentions, numbers, emoji and glossary terms become placeholders and come back", "[translate]") {
  std::vector<std::string> terms{"Plaza Mayor", "Colosseo", "Bar Pepe"};
  auto p = translate::protect(
      "Meet @maria_g at the plaza mayor at 9:30 😀🚌, tickets 15.50 EUR: https://tours.example/t?id=7. Mail ops@tours.example",
      terms);
  CHECK(p.text == "Meet [[1]] at the [[2]] at [[3]] [[4]], tickets [[5]] EUR: [[6]]. Mail [[7]]");
  CHECK(p.spans == std::vector<std::string>{"@maria_g", "plaza mayor", "9:30", "😀🚌", "15.50",
                                            "https://tours.example/t?id=7", "ops@tours.example"});
  // The engine reorders words but keeps the placeholders: everything is put back as it was.
  auto back = translate::restore(" Encuentra [[1]] en la [[2]] a las [[3]] [[4]], entradas [[5]] EUR: [[6]]. Correo [[7]]", p.spans);
  REQUIRE(back);
  CHECK(*back ==
        "Encuentra @maria_g en la plaza mayor a las 9:30 😀🚌, entradas 15.50 EUR: https://tours.example/t?id=7. Correo ops@tours.example");
  // A placeholder lost or doubled: the translation is not used.
  CHECK_FALSE(translate::restore("Encuentra [[1]] en la plaza", p.spans));
  CHECK_FALSE(translate::restore("[[1]] [[1]] [[2]] [[3]] [[4]] [[5]] [[6]] [[7]]", p.spans));
  // Terms match whole words only: "Colosseum" is not "Colosseo", "Bar Pepes" not "Bar Pepe".
  auto q = translate::protect("Colosseum, Bar Pepes and Colosseo.", terms);
  CHECK(q.spans == std::vector<std::string>{"Colosseo"});
  // Dates, times, phone numbers; an emoji with a skin tone or joiner stays one piece.
  auto r = translate::protect("Call +34 600 123 on 12/05/2026 👍🏽 👨‍👩‍👧", {});
  CHECK(r.spans == std::vector<std::string>{"+34", "600", "123", "12/05/2026", "👍🏽", "👨‍👩‍👧"});
  // Text that already looks like a placeholder is protected too.
  auto s = translate::protect("literally [[1]] here", {});
  REQUIRE(s.spans.size() == 1);
  CHECK(s.spans[0] == "[[1]]");
  auto t = translate::restore(s.text, s.spans);
  REQUIRE(t);
  CHECK(*t == "literally [[1]] here");
  auto u = translate::protect("@ana wrote [[1]] and @bob", {});
  CHECK(u.text == "[[1]] wrote [[2]] and [[3]]");
  auto v = translate::restore("[[1]] escribió [[2]] y [[3]]", u.spans);
  REQUIRE(v);
  CHECK(*v == "@ana escribió [[1]] y @bob");
  // A number right after a bracket: its placeholder follows one more bracket ("[[[1]]]]"), and is
  // still found (the fuzz target's first find).
  auto w = translate::protect("literally ~[1]] and [[22]]", {});
  CHECK(w.text == "literally ~[[[1]]]] and [[2]]");
  auto x = translate::restore(w.text, w.spans);
  REQUIRE(x);
  CHECK(*x == "literally ~[1]] and [[22]]");
}

TEST_CASE("a pair goes to the engines of its most specific route, else translate.providers", "[translate]") {
  config::Config c;
  c.translate_providers = "apertium, libretranslate";
  c.translate_routes = "en>it=deepl|apertium, *>de=deepl, en>*=libretranslate, *>*=apertium|deepl";
  using V = std::vector<std::string>;
  CHECK(translate::engines_for(c, "en", "it") == V{"deepl", "apertium"});
  CHECK(translate::engines_for(c, "fr", "de") == V{"deepl"});
  CHECK(translate::engines_for(c, "en", "de") == V{"libretranslate"});  // from>* beats *>to
  CHECK(translate::engines_for(c, "es", "pt") == V{"apertium", "deepl"});
  c.translate_routes = "";
  CHECK(translate::engines_for(c, "es", "pt") == V{"apertium", "libretranslate"});
  // The config check refuses what the routes cannot mean.
  c.translate_routes = "en>it=babelfish";
  CHECK_FALSE(config::validate(c).ok());
  c.translate_routes = "en-it=deepl";
  CHECK_FALSE(config::validate(c).ok());
  c.translate_routes = "";
  c.translate_providers = "google";
  CHECK_FALSE(config::validate(c).ok());
}

TEST_CASE("an unconfigured or unreachable engine fails a translation instead of calling it unsupported", "[translate][store]") {
  config::Config c;
  c.translate_providers = "apertium";
  c.translate_apertium_url = "http://127.0.0.1:9";  // discard: nothing listens
  c.translate_timeout_ms = 500;
  config::Holder holder(c);
  translate::Translator t(holder);
  auto out = t.translate("Hello", "en", "es", {});
  CHECK(out.kind == translate::Outcome::Kind::failed);
  CHECK(out.error.find("apertium") != std::string::npos);
  auto h = t.health();
  REQUIRE(h.size() == 1);
  CHECK_FALSE(h[0].reachable);
  // No engine configured at all for the pair: unsupported, said plainly.
  c.translate_providers = "deepl";  // without a key DeepL is not set up
  holder.set(c);
  auto none = t.translate("Hello", "en", "es", {});
  CHECK(none.kind == translate::Outcome::Kind::unsupported);
  CHECK(t.counters().unsupported == 1);
}

namespace {

struct Fixture {
  test::TempDir dir;
  store::Target target = test::store_target(dir);
  store::Writer writer;
  store::Db db;
  Fixture() : writer(target, {}), db(target, store::Db::Mode::read_write) {
    store::configure_writer(db, "normal");
  }
  std::int64_t user(const std::string& handle, const std::string& language, const std::string& role = "tourist") {
    store::User u;
    u.handle = handle;
    u.display_name = handle;
    u.role = role;
    u.language = language;
    auto r = store::users::insert(db, u);
    REQUIRE(r.ok());
    return r->id;
  }
  std::int64_t group(std::int64_t owner, const std::vector<std::int64_t>& members) {
    chat::Conversation c;
    c.kind = "group";
    c.title = "tour chat";
    c.owner_id = owner;
    c.created_at = c.updated_at = 1;
    auto id = chat::conversations::insert(db, c, std::nullopt);
    for (auto m : members) chat::conversations::add_member(db, id, m, 1);
    return id;
  }
  chat::Message post(std::int64_t conversation, std::int64_t sender, const std::string& text, const std::string& lang) {
    chat::Message m;
    m.conversation_id = conversation;
    m.sender_id = sender;
    m.kind = "text";
    m.body = text;
    m.lang = lang;
    m.lang_method = "client";
    m.created_at = 2;
    auto p = chat::post(db, m);
    REQUIRE(p.ok());
    return p->message;
  }
};

}  // namespace

TEST_CASE("translations are stored per message and language, and replaced, not duplicated", "[translate][store]") {
  Fixture f;
  auto guide = f.user("guide", "en-GB", "guide");
  auto ana = f.user("ana", "es");
  auto c = f.group(guide, {guide, ana});
  auto m = f.post(c, guide, "The bus leaves at 9", "en");
  CHECK(m.lang == "en");
  auto back = chat::messages::by_id(f.db, m.id);
  REQUIRE(back);
  CHECK(back->lang == "en");
  CHECK(back->lang_method == "client");
  CHECK(back->translate);
  translate::translations::put(f.db, {m.id, "es", "El autobús sale a las 9", "apertium", std::nullopt, 3});
  translate::translations::put(f.db, {m.id, "es", "El bus sale a las 9", "deepl", std::nullopt, 4});
  translate::translations::put(f.db, {m.id, "it", "Il pullman parte alle 9", "apertium", std::string("es"), 4});
  std::int64_t id = m.id;
  auto all = translate::translations::of(f.db, std::span(&id, 1), std::nullopt);
  REQUIRE(all[m.id].size() == 2);
  CHECK(all[m.id][0].lang == "es");
  CHECK(all[m.id][0].provider == "deepl");
  CHECK(all[m.id][1].pivot == "es");
  auto es = translate::translations::of(f.db, std::span(&id, 1), std::string("es"));
  REQUIRE(es[m.id].size() == 1);
  CHECK(es[m.id][0].text == "El bus sale a las 9");
  translate::translations::remove(f.db, m.id);
  CHECK(translate::translations::of(f.db, std::span(&id, 1), std::nullopt).empty());
}

TEST_CASE("the cursor only moves forward; retries wait until due; notices are said once", "[translate][store]") {
  Fixture f;
  auto a = f.user("a", "en");
  auto c = f.group(a, {a});
  auto m1 = f.post(c, a, "one", "en");
  auto m2 = f.post(c, a, "two", "en");
  CHECK(translate::jobs::cursor(f.db) == 0);
  auto fresh = chat::messages::text_after(f.db, 0, 10);
  REQUIRE(fresh.size() == 2);
  translate::jobs::set_cursor(f.db, m2.id);
  translate::jobs::set_cursor(f.db, m1.id);  // never back
  CHECK(translate::jobs::cursor(f.db) == m2.id);
  CHECK(chat::messages::text_after(f.db, translate::jobs::cursor(f.db), 10).empty());

  translate::jobs::schedule(f.db, m1.id, 5'000, 1, std::string("es: apertium: timeout"));
  CHECK(translate::jobs::due(f.db, 4'999, 10).empty());
  auto due = translate::jobs::due(f.db, 5'000, 10);
  REQUIRE(due.size() == 1);
  CHECK(due[0].attempts == 1);
  CHECK(due[0].last_error == "es: apertium: timeout");
  CHECK(translate::jobs::next_due(f.db) == 5'000);
  translate::jobs::schedule(f.db, m1.id, 9'000, 2, std::nullopt);  // rescheduled, still one job
  CHECK(translate::jobs::waiting(f.db) == 1);
  translate::jobs::done(f.db, m1.id);
  CHECK(translate::jobs::waiting(f.db) == 0);
  CHECK_FALSE(translate::jobs::next_due(f.db));

  CHECK(translate::notices::first(f.db, c, "en", "de", 1));
  CHECK_FALSE(translate::notices::first(f.db, c, "en", "de", 2));
  CHECK(translate::notices::first(f.db, c, "de", "en", 2));
}

TEST_CASE("the glossary refuses a term twice in any case, and its ids are never reused", "[translate][store]") {
  Fixture f;
  auto t1 = translate::glossary::add(f.db, "Plaza Mayor", "the main square", 1);
  REQUIRE(t1.ok());
  auto again = translate::glossary::add(f.db, "plaza MAYOR", "", 2);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == Code::conflict);
  auto t2 = translate::glossary::add(f.db, "Colosseo", "", 3);
  REQUIRE(t2.ok());
  CHECK(translate::glossary::remove(f.db, t2->id));
  CHECK_FALSE(translate::glossary::remove(f.db, t2->id));
  auto t3 = translate::glossary::add(f.db, "Trevi", "", 4);
  REQUIRE(t3.ok());
  CHECK(t3->id > t2->id);
  auto terms = translate::glossary::terms(f.db);
  std::sort(terms.begin(), terms.end());
  CHECK(terms == std::vector<std::string>{"Plaza Mayor", "Trevi"});
}

TEST_CASE("who wants translations: their own switch, then their choice here, else the conversation's default", "[translate][store]") {
  Fixture f;
  auto guide = f.user("guide", "en", "guide");
  auto ana = f.user("ana", "es-ES");
  auto luca = f.user("luca", "it");
  auto c = f.group(guide, {guide, ana, luca});
  auto wants = [&](std::int64_t user) {
    for (const auto& r : translate::settings::readers(f.db, c))
      if (r.user_id == user) return r.wants;
    FAIL("not a reader");
    return false;
  };
  auto readers = translate::settings::readers(f.db, c);
  REQUIRE(readers.size() == 3);
  CHECK(std::count_if(readers.begin(), readers.end(), [](const auto& r) { return r.lang == "es"; }) == 1);
  CHECK(wants(ana));
  translate::settings::set_conversation(f.db, c, false);
  CHECK_FALSE(wants(ana));
  CHECK_FALSE(translate::settings::conversation_default(f.db, c));
  translate::settings::set_member(f.db, c, ana, true);  // her choice beats the default
  CHECK(wants(ana));
  CHECK_FALSE(wants(luca));
  translate::settings::set_user(f.db, ana, false);  // off everywhere beats everything
  CHECK_FALSE(wants(ana));
  translate::settings::set_user(f.db, ana, true);
  translate::settings::set_member(f.db, c, ana, std::nullopt);  // back to the default
  CHECK(translate::settings::member(f.db, c, ana) == std::nullopt);
  CHECK_FALSE(wants(ana));
}
