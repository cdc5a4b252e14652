// Previews without Janus: a WebM file's duration read from its header, the previews and
// recordings tables (a recording goes with its file when files expire; ids are never reused),
// and the conversion step run with a stand-in for janus-pp-rec.
#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include <catch2/catch.hpp>

#include "../support.hpp"
#include "calls/previews.hpp"
#include "chat/files.hpp"
#include "store/users.hpp"
#include "store/writer.hpp"

using namespace tourbus;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

std::string be_double(double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, 8);
  std::string s;
  for (int i = 7; i >= 0; --i) s += static_cast<char>((bits >> (i * 8)) & 0xff);
  return s;
}

// EBML header, a Segment of unknown size, and an Info with the given children.
std::string webm(const std::string& info_children) {
  auto header = bytes({0x1A, 0x45, 0xDF, 0xA3, 0x84}) + "webm";
  auto segment = bytes({0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
  auto info = bytes({0x15, 0x49, 0xA9, 0x66, 0x80 | static_cast<int>(info_children.size())}) + info_children;
  return header + segment + info + bytes({0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
}

void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("a WebM file's duration comes from its Segment Info", "[calls]") {
  auto scale = bytes({0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40});  // 1,000,000 ns a tick
  auto duration = bytes({0x44, 0x89, 0x88}) + be_double(64210.0);
  CHECK(calls::webm_duration_ms(webm(scale + duration)) == 64210);
  // Another time scale (a tick of 10 ms), the duration as a 4-byte float, and no scale at all.
  auto coarse = bytes({0x2A, 0xD7, 0xB1, 0x83, 0x98, 0x96, 0x80});
  float f = 250.0f;
  std::uint32_t fb;
  std::memcpy(&fb, &f, 4);
  auto four = bytes({0x44, 0x89, 0x84, static_cast<int>(fb >> 24), static_cast<int>((fb >> 16) & 0xff),
                     static_cast<int>((fb >> 8) & 0xff), static_cast<int>(fb & 0xff)});
  CHECK(calls::webm_duration_ms(webm(coarse + four)) == 2500);
  CHECK(calls::webm_duration_ms(webm(duration)) == 64210);
  // No duration written, a cut-off header, and bytes that are not WebM: unknown, not a crash.
  CHECK_FALSE(calls::webm_duration_ms(webm(scale)));
  auto whole = webm(scale + duration);
  auto info_end = whole.size() - 12;  // the Cluster header follows the Info
  for (std::size_t n = 0; n < info_end; ++n) CHECK_FALSE(calls::webm_duration_ms(whole.substr(0, n)));
  CHECK(calls::webm_duration_ms(whole.substr(0, info_end)) == 64210);
  CHECK_FALSE(calls::webm_duration_ms("%PDF-1.7 not a video"));
  CHECK_FALSE(calls::webm_duration_ms(std::string(64, '\xff')));
}

TEST_CASE("previews and recordings: peaks only grow, a recording goes with its file, ids are never reused", "[calls][store]") {
  test::TempDir dir;
  auto target = test::store_target(dir);
  store::Writer writer(target, {});
  store::Db db(target, store::Db::Mode::read_write);
  store::User u;
  u.handle = "gus";
  u.display_name = "Gus";
  u.role = "guide";
  auto gus = store::users::insert(db, u)->id;

  calls::Preview p;
  p.guide_id = gus;
  p.title = "Retiro at sunset";
  p.access = "link";
  p.link_hash = "ab12";
  p.room_secret = "s3cret";
  p.started_at = 1000;
  auto first = calls::previews::insert(db, p);
  auto found = calls::previews::find(db, first);
  REQUIRE(found);
  CHECK(found->guide_handle == "gus");
  CHECK(found->state == "live");
  CHECK(found->link_hash == "ab12");
  CHECK_FALSE(found->tour_id);
  calls::previews::set_peak(db, first, 5);
  calls::previews::set_peak(db, first, 3);
  calls::previews::set_recording(db, first, true);
  CHECK(calls::previews::find(db, first)->peak_viewers == 5);
  CHECK(calls::previews::find(db, first)->recording);
  p.access = "tourists";
  p.link_hash.clear();
  auto second = calls::previews::insert(db, p);
  CHECK(calls::previews::list(db, "live", 0, 10).size() == 2);
  CHECK(calls::previews::list(db, "live", gus + 1, 10).empty());
  CHECK(calls::previews::end_open(db, 2000, {second}) == std::vector<std::int64_t>{first});  // second: on air here
  CHECK(calls::previews::end_open(db, 2000) == std::vector<std::int64_t>{second});
  CHECK(calls::previews::list(db, "live", 0, 10).empty());
  auto ended = calls::previews::find(db, first);
  CHECK(ended->state == "ended");
  CHECK_FALSE(ended->recording);  // nothing records an ended preview
  CHECK(ended->ended_at == 2000);

  chat::FileInfo f;
  f.sha256 = std::string(64, 'a');
  f.size = 1234;
  f.content_type = "video/webm";
  f.name = "preview-1-1.webm";
  f.uploader_id = gus;
  f.created_at = 3000;
  auto file = chat::files::insert(db, f);
  auto rec = calls::previews::add_recording(db, first, file, 64210, 3000);
  auto r = calls::previews::find_recording(db, rec);
  REQUIRE(r);
  CHECK(r->guide_id == gus);
  CHECK(r->size == 1234);
  CHECK(r->duration_ms == 64210);
  CHECK(calls::previews::recordings(db, first, 10).size() == 1);
  CHECK(calls::previews::recordings(db, second, 10).empty());
  // Files expire: the recording goes with its file, and its blob is no longer needed.
  CHECK(chat::files::expire(db, 4000) == std::vector<std::string>{f.sha256});
  CHECK_FALSE(calls::previews::find_recording(db, rec));
  // A new recording gets a new id; removing it answers the blob to delete.
  f.created_at = 5000;
  auto again = calls::previews::add_recording(db, first, chat::files::insert(db, f), std::nullopt, 5000);
  CHECK(again > rec);
  CHECK(calls::previews::remove_recording(db, again) == f.sha256);
  CHECK_FALSE(calls::previews::remove_recording(db, again));
  CHECK(calls::previews::insert(db, p) > second);
}

TEST_CASE("recordings are converted by janus-pp-rec: video files only, failures skipped", "[calls]") {
  test::TempDir dir;
  auto in = dir / "preview-4";
  auto out = dir / "out";
  std::filesystem::create_directories(in);
  std::filesystem::create_directories(out);
  write(in / "videoroom-7000000004-user-1-100-video-0.mjr", "VIDEO");
  write(in / "videoroom-7000000004-user-1-100-audio-1.mjr", "AUDIO");
  write(in / "notes.txt", "not a recording");
  // A stand-in that converts by copying, and one that fails.
  auto copy = dir / "pp-copy";
  write(copy, "#!/bin/sh\ncp \"$1\" \"$2\"\n");
  ::chmod(copy.c_str(), 0755);
  auto fail = dir / "pp-fail";
  write(fail, "#!/bin/sh\necho broken >&2\nexit 3\n");
  ::chmod(fail.c_str(), 0755);

  auto done = calls::convert_recordings(in, out, copy.string());
  REQUIRE(done.size() == 1);
  CHECK(done[0].mjr.filename() == "videoroom-7000000004-user-1-100-video-0.mjr");
  CHECK(done[0].webm == out / "videoroom-7000000004-user-1-100-video-0.webm");
  CHECK(chat::read_prefix(done[0].webm, 100) == "VIDEO");
  CHECK(calls::convert_recordings(in, out, fail.string()).empty());
  CHECK_FALSE(std::filesystem::exists(out / "videoroom-7000000004-user-1-100-video-0.webm"));
  CHECK(calls::convert_recordings(in, out, (dir / "no-such-program").string()).empty());
  CHECK(calls::convert_recordings(dir / "missing", out, copy.string()).empty());
}

TEST_CASE("the registry of previews on air finds a viewer's preview", "[calls]") {
  calls::PreviewRegistry reg(boost::asio::system_executor{});
  auto& a = reg.add(1, 10);
  auto v = reg.next_viewer();
  a.viewers[v].user = 20;
  reg.add(2, 11);
  CHECK(reg.watching(v) == reg.find(1));
  CHECK(reg.next_viewer() > v);
  reg.remove(1);
  CHECK_FALSE(reg.watching(v));
  CHECK(reg.find(2));
}
