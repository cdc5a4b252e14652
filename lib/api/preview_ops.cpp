// preview.* and recording.*: live tour previews through Janus (docs/previews.md). tourbusd
// creates and removes the VideoRoom rooms, admits each viewer itself (access, max viewers), and
// relays SDP between the browsers and Janus; Janus's calls run on a pool of their own. The
// previews on air (calls::PreviewRegistry) are on the event loop: a handler looks them up again
// after each suspension, since a preview may stop meanwhile.
#include <chrono>
#include <set>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/maintenance.hpp"
#include "api/schema.hpp"
#include "calls/janus.hpp"
#include "calls/live.hpp"
#include "calls/previews.hpp"
#include "chat/files.hpp"
#include "core/crypto.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "store/tours.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::array;
using boost::json::object;
namespace asio = boost::asio;

// f() on the Janus pool; its result back on the loop.
template <class T, class F>
asio::awaitable<Result<T>> on_pool(Context& ctx, F f) {
  std::optional<Result<T>> out;
  auto job = [&]() -> asio::awaitable<void> {
    out.emplace(f());
    co_return;
  };
  auto pending = asio::co_spawn(ctx.previews->janus_pool, job, asio::use_awaitable);
  co_await std::move(pending);
  co_return std::move(*out);
}

// Closes Janus sessions in the background (best effort).
void close_later(Context& ctx, std::vector<calls::JanusHandle> handles) {
  if (handles.empty()) return;
  asio::post(ctx.previews->janus_pool, [cfg = ctx.config.get(), handles = std::move(handles)] {
    calls::Janus janus(cfg);
    for (const auto& h : handles) janus.close(h);
  });
}

Status needs_janus(Context& ctx) {
  if (!ctx.previews || ctx.config.get()->calls_janus_url.empty())
    return Error(Code::unavailable, "tour previews need a media server: set calls.janus_url (docs/previews.md)");
  return {};
}

Status needs_session(const Caller& caller) {
  if (caller.session == 0 || caller.user_id == 0)
    return Error(Code::invalid_argument, "previews are broadcast and watched from a WebSocket or Socket.IO session with a user's token");
  return {};
}

Error no_preview(std::int64_t id) { return Error(Code::not_found, "no preview " + std::to_string(id) + " that you can see", "id"); }
Error no_viewer(std::int64_t id) { return Error(Code::not_found, "no viewer " + std::to_string(id) + " of yours", "viewer"); }
Error no_recording(std::int64_t id) { return Error(Code::not_found, "no recording " + std::to_string(id) + " that you can see", "id"); }

bool manages(const Caller& caller, const calls::Preview& p) { return caller.is_operator() || caller.user_id == p.guide_id; }

// Who may watch: operators, the guide, and per access the tour's people, any tourist, or whoever
// has the link.
bool may_watch(store::Db& db, const Caller& caller, const calls::Preview& p, const std::optional<std::string>& link) {
  if (manages(caller, p)) return true;
  if (p.access == "tourists") return caller.role == Role::tourist;
  if (p.access == "link") return link && !p.link_hash.empty() && crypto::sha256_hex(*link) == p.link_hash;
  if (!p.tour_id) return false;
  if (store::tours::is_participant(db, *p.tour_id, caller.user_id)) return true;
  auto t = store::tours::find(db, *p.tour_id);
  return t && t->guide_id == caller.user_id;
}

bool may_see(store::Db& db, const Caller& caller, const calls::Recording& r) {
  if (caller.is_operator() || caller.user_id == r.guide_id) return true;
  return r.tour_id && caller.user_id != 0 && store::tours::is_participant(db, *r.tour_id, caller.user_id);
}

object preview_json(Context& ctx, const calls::Preview& p, bool staff) {
  auto* air = ctx.previews ? ctx.previews->find(p.id) : nullptr;
  std::int64_t watching = 0;
  array viewers;
  if (air)
    for (const auto& [vid, v] : air->viewers) {
      ++watching;
      if (staff) viewers.push_back(object{{"viewer", vid}, {"user", v.user}, {"ready", v.ready}, {"substream", v.substream}});
    }
  object o{{"id", p.id},
           {"tour", p.tour_id ? boost::json::value(*p.tour_id) : nullptr},
           {"guide", p.guide_handle},
           {"title", p.title},
           {"access", p.access},
           {"state", p.state},
           {"on_air", air && air->feed != 0},
           {"recording", p.recording},
           {"viewers", watching},
           {"peak_viewers", std::max(p.peak_viewers, watching)},
           {"started_at", timeutil::format_utc(p.started_at)},
           {"ended_at", time_or_null(p.ended_at)}};
  if (staff && p.state == "live") o["watching"] = std::move(viewers);
  return o;
}

object recording_json(const calls::Recording& r) {
  return object{{"id", r.id},
                {"preview", r.preview_id},
                {"file", r.file_id},
                {"size", r.size},
                {"content_type", r.content_type},
                {"duration_ms", r.duration_ms ? boost::json::value(*r.duration_ms) : nullptr},
                {"created_at", timeutil::format_utc(r.created_at)}};
}

std::optional<calls::Preview> find_preview(Context& ctx, std::int64_t id) {
  return ctx.reads.with([&](store::Db& db) { return calls::previews::find(db, id); });
}

// The preview if the caller may watch it (or runs it); not_found otherwise, so ids reveal nothing
// to strangers; permission_denied for one they can see exists (a link preview without the link).
Result<calls::Preview> watchable(Context& ctx, const Caller& caller, std::int64_t id, const std::optional<std::string>& link) {
  return ctx.reads.with([&](store::Db& db) -> Result<calls::Preview> {
    auto p = calls::previews::find(db, id);
    if (!p) return no_preview(id);
    if (!may_watch(db, caller, *p, link)) {
      if (p->access == "link" || p->access == "tour")
        return Error(Code::permission_denied, p->access == "link" ? "this preview is watched with the link its guide shares"
                                                                   : "this preview is for the tour's participants");
      return no_preview(id);
    }
    return *p;
  });
}

std::filesystem::path recordings_dir(const config::Config& c, std::int64_t preview) {
  return std::filesystem::path(c.calls_janus_recordings_dir) / ("preview-" + std::to_string(preview));
}

// Converts what Janus recorded for a preview into WebM files in the files store, records them and
// tells the guide. The .mjr files go once their recording is committed.
asio::awaitable<std::vector<std::int64_t>> store_recordings(Context& ctx, std::int64_t preview, std::int64_t guide) {
  auto cfg = ctx.config.get();
  std::vector<std::int64_t> ids;
  if (cfg->calls_janus_recordings_dir.empty()) co_return ids;
  struct Made {
    chat::FileInfo file;
    std::optional<std::int64_t> duration_ms;
    std::filesystem::path mjr;
  };
  auto converted_job = on_pool<std::vector<Made>>(ctx, [&ctx, cfg, preview, guide]() -> Result<std::vector<Made>> {
    std::vector<Made> out;
    auto dir = recordings_dir(*cfg, preview);
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return out;
    auto scratch = ctx.files_dir / "converting" / ctx.node;  // per node: nodes may share files.dir
    std::filesystem::create_directories(scratch, ec);
    auto log = logging::get("calls");
    for (auto& c : calls::convert_recordings(dir, scratch, cfg->calls_janus_pp_rec)) {
      try {
        auto head = chat::read_prefix(c.webm, 1 << 20);
        Made m;
        m.file.content_type = ctx.sniffer.content_type(head);
        if (m.file.content_type != "video/webm") {
          log->error("calls.recording_rejected preview={} type={} (expected video/webm)", preview, m.file.content_type);
          std::filesystem::remove(c.webm, ec);
          continue;
        }
        m.duration_ms = calls::webm_duration_ms(head);
        m.file.size = static_cast<std::int64_t>(std::filesystem::file_size(c.webm));
        m.file.sha256 = crypto::sha256_file_hex(c.webm.string());
        m.file.name = "preview-" + std::to_string(preview) + "-" + std::to_string(out.size() + 1) + ".webm";
        m.file.uploader_id = guide;
        m.file.created_at = timeutil::now_ms();
        chat::store_blob_file(ctx.files_dir, m.file.sha256, c.webm);
        m.mjr = c.mjr;
        out.push_back(std::move(m));
      } catch (const std::exception& e) {
        log->error("calls.recording_store_failed preview={} error=\"{}\"", preview, e.what());
        std::filesystem::remove(c.webm, ec);
      }
    }
    return out;
  });
  auto converted = co_await std::move(converted_job);
  if (!converted || converted->empty()) co_return ids;
  auto made = std::move(*converted);
  auto pending = ctx.writer.run<std::vector<std::int64_t>>([made, preview](store::Db& db) -> Result<std::vector<std::int64_t>> {
    std::vector<std::int64_t> out;
    for (const auto& m : made) {
      auto file = chat::files::insert(db, m.file);
      out.push_back(calls::previews::add_recording(db, preview, file, m.duration_ms, m.file.created_at));
    }
    return out;
  });
  auto stored = co_await std::move(pending);
  if (!stored) co_return ids;
  ids = *stored;
  std::error_code ec;
  for (std::size_t i = 0; i < made.size(); ++i) {
    std::filesystem::remove(made[i].mjr, ec);
    // Janus writes the audio beside the video (same name up to "-video-"); the stored recording
    // is the video, so the audio file goes with it.
    auto name = made[i].mjr.filename().string();
    auto prefix = name.substr(0, name.rfind("-video-")) + "-audio-";
    for (const auto& e : std::filesystem::directory_iterator(made[i].mjr.parent_path(), ec))
      if (e.path().filename().string().starts_with(prefix)) std::filesystem::remove(e.path(), ec);
    logging::get("calls")->info("calls.recording_stored preview={} recording={} bytes={} duration_ms={}", preview, ids[i],
                                made[i].file.size, made[i].duration_ms.value_or(-1));
    ctx.events.publish(std::span(&guide, 1),
                       events::push("recording.ready", object{{"id", ids[i]},
                                                              {"preview", preview},
                                                              {"size", made[i].file.size},
                                                              {"duration_ms", made[i].duration_ms ? boost::json::value(*made[i].duration_ms) : nullptr}}));
  }
  if (!made.empty()) std::filesystem::remove(made.front().mjr.parent_path(), ec);  // only when empty
  co_return ids;
}

// Tells the guide and every viewer whether the preview is being recorded.
void tell_recording(Context& ctx, const calls::Preview& p, bool on, const std::string& by) {
  auto e = events::push("preview.recording", object{{"id", p.id}, {"recording", on}, {"by", by}});
  ctx.events.publish(std::span(&p.guide_id, 1), e);
  if (auto* air = ctx.previews->find(p.id))
    for (const auto& [vid, v] : air->viewers) ctx.events.publish_session(v.user, v.session, e);
}

}  // namespace

asio::awaitable<Result<Reply>> preview_start(Context& ctx, const Caller& caller, const object& p) {
  if (auto ok = needs_janus(ctx); !ok) co_return ok.error();
  if (caller.user_id == 0)
    co_return Error(Code::invalid_argument, "a preview is the guide's: start it as the guide (--as HANDLE or the guide's token)");
  auto cfg = ctx.config.get();
  calls::Preview pv;
  pv.guide_id = caller.user_id;
  pv.guide_handle = caller.handle;
  pv.tour_id = get_int(p, "tour");
  pv.recording = get_bool(p, "record").value_or(false);
  pv.access = get_string(p, "access").value_or(pv.tour_id ? "tour" : "tourists");
  if (pv.access != "tour" && pv.access != "tourists" && pv.access != "link")
    co_return Error(Code::invalid_argument, "access: tour, tourists or link", "access");
  if (pv.access == "tour" && !pv.tour_id) co_return Error(Code::invalid_argument, "access tour needs the tour", "tour");
  std::string title = get_string(p, "title").value_or("");
  if (title.size() > 200) co_return Error(Code::invalid_argument, "title: at most 200 bytes", "title");
  if (pv.tour_id) {
    auto tour = ctx.reads.with([&](store::Db& db) { return store::tours::find(db, *pv.tour_id); });
    if (!tour) co_return Error(Code::not_found, "no tour " + std::to_string(*pv.tour_id), "tour");
    if (!caller.is_operator() && tour->guide_id != caller.user_id)
      co_return Error(Code::permission_denied, "you do not lead tour " + std::to_string(*pv.tour_id), "tour");
    if (title.empty()) title = tour->title;
  }
  pv.title = title.empty() ? "Live preview by " + caller.handle : title;
  if (pv.recording && cfg->calls_janus_recordings_dir.empty())
    co_return Error(Code::unavailable, "recording needs calls.janus_recordings_dir", "record");
  std::string link;
  if (pv.access == "link") {
    link = crypto::random_token(24);
    pv.link_hash = crypto::sha256_hex(link);
  }
  pv.room_secret = crypto::random_token(24);
  pv.started_at = timeutil::now_ms();
  auto pending = ctx.writer.run<std::int64_t>([pv](store::Db& db) -> Result<std::int64_t> { return calls::previews::insert(db, pv); });
  auto id = co_await std::move(pending);
  if (!id) co_return id.error();
  pv.id = *id;
  object room{{"request", "create"},
              {"room", calls::room_of(pv.id)},
              {"description", "tourbus preview " + std::to_string(pv.id)},
              {"permanent", false},
              {"is_private", true},
              {"secret", pv.room_secret},
              {"pin", pv.room_secret},
              {"publishers", 1},
              {"videocodec", "vp8"},
              {"audiocodec", "opus"},
              {"notify_joining", false},
              // A keyframe from the guide every 2 s: a viewer switched to another simulcast layer
              // (and a recording) starts on it without waiting for the browser to send one.
              {"fir_freq", 2},
              {"record", pv.recording},
              {"lock_record", true}};
  if (!cfg->calls_janus_recordings_dir.empty()) {
    // tourbusd makes the preview's directory, so that it can delete what Janus writes there once
    // converted: group-writable and setgid for the group it shares with Janus (examples/janus/).
    auto dir = recordings_dir(*cfg, pv.id);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (!ec)
      std::filesystem::permissions(dir, std::filesystem::perms::owner_all | std::filesystem::perms::group_all |
                                            std::filesystem::perms::set_gid, ec);
    if (ec) logging::get("calls")->warn("calls.recordings_dir_failed preview={} error=\"{}\"", pv.id, ec.message());
    room["rec_dir"] = dir.string();
  }
  auto created_job = on_pool<object>(ctx, [cfg, room] { return calls::Janus(cfg).once(room); });
  auto created = co_await std::move(created_job);
  if (!created) {
    auto ending = ctx.writer.run<bool>([id = pv.id](store::Db& db) -> Result<bool> {
      calls::previews::end(db, id, timeutil::now_ms());
      return true;
    });
    co_await std::move(ending);
    logging::get("calls")->error("calls.preview_failed preview={} error=\"{}\"", pv.id, created.error().message);
    co_return created.error();
  }
  ctx.previews->add(pv.id, pv.guide_id);
  logging::get("calls")->info("calls.preview_started preview={} guide={} tour={} access={} recording={}", pv.id, caller.handle,
                              pv.tour_id.value_or(0), pv.access, pv.recording);
  auto out = preview_json(ctx, pv, true);
  if (!link.empty()) out["link"] = link;
  co_return Reply::created(std::move(out));
}

asio::awaitable<Result<Reply>> preview_publish(Context& ctx, const Caller& caller, const object& p) {
  if (auto ok = needs_janus(ctx); !ok) co_return ok.error();
  if (auto ok = needs_session(caller); !ok) co_return ok.error();
  auto id = *get_int(p, "id");
  auto pv = find_preview(ctx, id);
  if (!pv || !manages(caller, *pv)) co_return no_preview(id);
  if (pv->guide_id != caller.user_id) co_return Error(Code::permission_denied, "only the preview's guide broadcasts to it");
  auto* air = ctx.previews->find(id);
  if (pv->state != "live" || !air) co_return Error(Code::conflict, "preview " + std::to_string(id) + " has ended");
  // One publisher per room: a guide publishing again (a new page, a reconnect) replaces the old.
  if (air->publisher.session) {
    close_later(ctx, {air->publisher});
    air->publisher = {};
    air->feed = 0;
  }
  auto cfg = ctx.config.get();
  object join{{"request", "joinandconfigure"}, {"room", calls::room_of(id)}, {"pin", pv->room_secret}, {"ptype", "publisher"},
              {"display", caller.handle}, {"audio", true}, {"video", true}};
  auto sdp = std::string(*get_string(p, "sdp"));
  struct Published {
    calls::JanusHandle handle;
    calls::JanusEvent event;
  };
  auto done_job = on_pool<Published>(ctx, [cfg, join, sdp]() -> Result<Published> {
    calls::Janus janus(cfg);
    auto h = janus.open();
    if (!h) return h.error();
    auto e = janus.exchange(*h, join, sdp, "offer");
    if (!e) {
      janus.close(*h);
      return e.error();
    }
    return Published{*h, std::move(*e)};
  });
  auto done = co_await std::move(done_job);
  if (!done) co_return done.error();
  air = ctx.previews->find(id);
  if (!air) {
    close_later(ctx, {done->handle});
    co_return Error(Code::conflict, "preview " + std::to_string(id) + " has ended");
  }
  if (!done->event.sdp) {
    close_later(ctx, {done->handle});
    co_return Error(Code::invalid_argument, "the media server did not accept the offer (send audio/video with ICE gathered)", "sdp");
  }
  air->publisher = done->handle;
  air->publisher_session = caller.session;
  const auto* feed = done->event.data.if_contains("id");
  air->feed = feed ? feed->to_number<std::uint64_t>() : 1;
  logging::get("calls")->info("calls.preview_on_air preview={} guide={}", id, caller.handle);
  co_return Reply::ok(object{{"id", id}, {"sdp", *done->event.sdp}});
}

asio::awaitable<Result<Reply>> preview_watch(Context& ctx, const Caller& caller, const object& p) {
  if (auto ok = needs_janus(ctx); !ok) co_return ok.error();
  if (auto ok = needs_session(caller); !ok) co_return ok.error();
  auto id = *get_int(p, "id");
  auto pv = watchable(ctx, caller, id, get_string(p, "link"));
  if (!pv) co_return pv.error();
  auto* air = ctx.previews->find(id);
  if (pv->state != "live" || !air) co_return Error(Code::conflict, "preview " + std::to_string(id) + " has ended");
  if (air->feed == 0) co_return Error(Code::unavailable, "the guide is not on air yet: try again in a moment");
  auto cfg = ctx.config.get();
  if (static_cast<std::int64_t>(air->viewers.size()) >= cfg->calls_preview_max_viewers)
    co_return Error(Code::rate_limited, "preview " + std::to_string(id) + " has as many viewers as it takes (" +
                                            std::to_string(cfg->calls_preview_max_viewers) + "): try again later");
  // The place is held before the media server is asked, so two at once cannot both take the last.
  auto vid = ctx.previews->next_viewer();
  auto& v = air->viewers[vid];
  v.id = vid;
  v.user = caller.user_id;
  v.session = caller.session;
  auto watching = static_cast<std::int64_t>(air->viewers.size());
  object join{{"request", "join"}, {"ptype", "subscriber"}, {"room", calls::room_of(id)}, {"pin", pv->room_secret},
              {"streams", array{object{{"feed", air->feed}}}}};
  struct Joined {
    calls::JanusHandle handle;
    calls::JanusEvent event;
  };
  auto done_job = on_pool<Joined>(ctx, [cfg, join]() -> Result<Joined> {
    calls::Janus janus(cfg);
    auto h = janus.open();
    if (!h) return h.error();
    // Janus takes subscribers once the guide's media is up, a moment after it answered the
    // guide: "no such feed" (unavailable) is asked again for up to 5 seconds.
    auto e = janus.exchange(*h, join, std::nullopt, "");
    for (int i = 0; i < 25 && !e && e.error().code == Code::unavailable && e.error().message.find("no such stream") != std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      e = janus.exchange(*h, join, std::nullopt, "");
    }
    if (!e) {
      janus.close(*h);
      return e.error();
    }
    return Joined{*h, std::move(*e)};
  });
  auto done = co_await std::move(done_job);
  air = ctx.previews->find(id);
  auto* viewer = air && air->viewers.contains(vid) ? &air->viewers.at(vid) : nullptr;
  if (!done) {
    if (air) air->viewers.erase(vid);
    co_return done.error();
  }
  if (!viewer || !done->event.sdp) {
    if (air) air->viewers.erase(vid);
    close_later(ctx, {done->handle});
    co_return Error(Code::conflict, "preview " + std::to_string(id) + " has ended");
  }
  viewer->janus = done->handle;
  if (const auto* streams = done->event.data.if_contains("streams"); streams && streams->is_array())
    for (const auto& s : streams->as_array())
      if (s.is_object() && s.as_object().contains("type") && s.at("type") == "video" && s.as_object().contains("mid"))
        viewer->video_mid = std::string(s.at("mid").as_string());
  if (watching > pv->peak_viewers) {
    auto peak = ctx.writer.run<bool>([id, watching](store::Db& db) -> Result<bool> {
      calls::previews::set_peak(db, id, watching);
      return true;
    });
    co_await std::move(peak);
  }
  auto recording = ctx.reads.with([&](store::Db& db) {
    auto now = calls::previews::find(db, id);
    return now && now->recording;
  });
  logging::get("calls")->info("calls.preview_viewer preview={} viewer={} user={}", id, vid, caller.handle);
  co_return Reply::ok(object{{"id", id}, {"viewer", vid}, {"sdp", *done->event.sdp}, {"recording", recording}});
}

namespace {

// The caller's viewer and its preview, on the loop.
Result<std::pair<calls::OnAir*, calls::Viewer*>> my_viewer(Context& ctx, const Caller& caller, std::int64_t vid) {
  if (!ctx.previews) return no_viewer(vid);
  auto* air = ctx.previews->watching(vid);
  if (!air) return no_viewer(vid);
  auto& v = air->viewers.at(vid);
  if (v.user != caller.user_id) return no_viewer(vid);
  return std::make_pair(air, &v);
}

}  // namespace

asio::awaitable<Result<Reply>> preview_answer(Context& ctx, const Caller& caller, const object& p) {
  auto vid = *get_int(p, "viewer");
  auto mine = my_viewer(ctx, caller, vid);
  if (!mine) co_return mine.error();
  auto handle = mine->second->janus;
  auto cfg = ctx.config.get();
  auto sdp = std::string(*get_string(p, "sdp"));
  auto started_job = on_pool<calls::JanusEvent>(ctx, [cfg, handle, sdp] {
    return calls::Janus(cfg).exchange(handle, object{{"request", "start"}}, sdp, "answer");
  });
  auto started = co_await std::move(started_job);
  if (!started) co_return started.error();
  auto again = my_viewer(ctx, caller, vid);
  if (!again) co_return again.error();
  again->second->ready = true;
  co_return Reply::ok(object{{"viewer", vid}});
}

asio::awaitable<Result<Reply>> preview_stats(Context& ctx, const Caller& caller, const object& p) {
  auto vid = *get_int(p, "viewer");
  auto mine = my_viewer(ctx, caller, vid);
  if (!mine) co_return mine.error();
  auto* v = mine->second;
  auto cfg = ctx.config.get();
  auto now = timeutil::now_ms();
  if (v->last_stats && now - v->last_stats < cfg->calls_stats_interval_ms)
    co_return Error(Code::rate_limited, "report at most every " + std::to_string(cfg->calls_stats_interval_ms) + " ms");
  v->last_stats = now;
  calls::Sample s;
  s.rtt_ms = *get_number(p, "rtt_ms");
  s.loss_percent = *get_number(p, "loss_percent");
  s.bitrate_kbps = *get_number(p, "bitrate_kbps");
  s.fps = get_number(p, "fps").value_or(30);
  s.height = get_int(p, "height").value_or(0);
  if (s.rtt_ms < 0 || s.loss_percent < 0 || s.loss_percent > 100 || s.bitrate_kbps < 0 || s.fps < 0 || s.height < 0)
    co_return Error(Code::invalid_argument, "figures are not negative, and loss_percent is at most 100");
  // Scored on loss and round trip alone: the bitrate and the picture follow the layer a viewer
  // gets, so judging them would keep a viewer on the lowest layer for good.
  auto score = calls::score(s, false);
  // A poor link gets the lowest simulcast layer, a fair one the middle, a good one the highest.
  int layer = score == "poor" ? 0 : score == "fair" ? 1 : 2;
  if (layer != v->substream && !v->video_mid.empty() && v->ready) {
    v->substream = layer;
    auto handle = v->janus;
    object configure{{"request", "configure"}, {"streams", array{object{{"mid", v->video_mid}, {"substream", layer}}}}};
    auto switched_job = on_pool<calls::JanusEvent>(ctx, [cfg, handle, configure] {
      return calls::Janus(cfg).exchange(handle, configure, std::nullopt, "", 3000);
    });
    auto switched = co_await std::move(switched_job);
    if (!switched)
      logging::get("calls")->warn("calls.preview_layer_failed viewer={} error=\"{}\"", vid, switched.error().message);
    else
      logging::get("calls")->info("calls.preview_layer viewer={} score={} substream={}", vid, score, layer);
  }
  co_return Reply::ok(object{{"viewer", vid}, {"score", score}, {"substream", layer}});
}

asio::awaitable<Result<Reply>> preview_leave(Context& ctx, const Caller& caller, const object& p) {
  auto vid = *get_int(p, "viewer");
  auto mine = my_viewer(ctx, caller, vid);
  if (!mine) co_return mine.error();
  auto handle = mine->second->janus;
  mine->first->viewers.erase(vid);
  close_later(ctx, {handle});
  co_return Reply::ok(object{{"viewer", vid}});
}

asio::awaitable<Result<Reply>> preview_record(Context& ctx, const Caller& caller, const object& p) {
  if (auto ok = needs_janus(ctx); !ok) co_return ok.error();
  auto id = *get_int(p, "id");
  bool on = *get_bool(p, "on");
  auto pv = find_preview(ctx, id);
  if (!pv || !manages(caller, *pv)) co_return no_preview(id);
  if (pv->state != "live" || !ctx.previews->find(id)) co_return Error(Code::conflict, "preview " + std::to_string(id) + " has ended");
  auto cfg = ctx.config.get();
  if (on && cfg->calls_janus_recordings_dir.empty()) co_return Error(Code::unavailable, "recording needs calls.janus_recordings_dir");
  if (pv->recording != on) {
    object req{{"request", "enable_recording"}, {"room", calls::room_of(id)}, {"secret", pv->room_secret}, {"record", on}};
    auto done_job = on_pool<object>(ctx, [cfg, req] { return calls::Janus(cfg).once(req); });
    auto done = co_await std::move(done_job);
    if (!done) co_return done.error();
    auto stored = ctx.writer.run<bool>([id, on](store::Db& db) -> Result<bool> {
      calls::previews::set_recording(db, id, on);
      return true;
    });
    if (auto ok = co_await std::move(stored); !ok) co_return ok.error();
    pv->recording = on;
    auto by = caller.handle.empty() ? std::string("operator") : caller.handle;
    tell_recording(ctx, *pv, on, by);
    logging::get("calls")->info("calls.preview_recording preview={} recording={} by={}", id, on, by);
    if (!on) {
      auto storing = store_recordings(ctx, id, pv->guide_id);
      co_await std::move(storing);
    }
  }
  co_return Reply::ok(preview_json(ctx, *pv, true));
}

namespace {

// Ends a preview: the room goes, viewers are told, what was recorded is stored.
asio::awaitable<std::vector<std::int64_t>> end_preview(Context& ctx, calls::Preview pv) {
  auto cfg = ctx.config.get();
  std::vector<calls::JanusHandle> handles;
  std::vector<std::pair<std::int64_t, std::uint64_t>> sessions;
  if (auto* air = ctx.previews->find(pv.id)) {
    if (air->publisher.session) handles.push_back(air->publisher);
    for (const auto& [vid, v] : air->viewers) {
      if (v.janus.session) handles.push_back(v.janus);
      sessions.emplace_back(v.user, v.session);
    }
    ctx.previews->remove(pv.id);
  }
  auto ended = events::push("preview.ended", object{{"id", pv.id}});
  for (auto [user, session] : sessions) ctx.events.publish_session(user, session, ended);
  if (pv.recording) tell_recording(ctx, pv, false, "");
  // Recording off first, so Janus closes its files; then the room (and everyone in it) goes.
  object off{{"request", "enable_recording"}, {"room", calls::room_of(pv.id)}, {"secret", pv.room_secret}, {"record", false}};
  object destroy{{"request", "destroy"}, {"room", calls::room_of(pv.id)}, {"secret", pv.room_secret}};
  auto job8 = on_pool<bool>(ctx, [cfg, off, destroy, recording = pv.recording, handles]() -> Result<bool> {
    calls::Janus janus(cfg);
    if (recording) (void)janus.once(off);
    (void)janus.once(destroy);
    for (const auto& h : handles) janus.close(h);
    return true;
  });
  (void)co_await std::move(job8);
  auto pending = ctx.writer.run<bool>([id = pv.id](store::Db& db) -> Result<bool> {
    calls::previews::end(db, id, timeutil::now_ms());
    return true;
  });
  co_await std::move(pending);
  logging::get("calls")->info("calls.preview_ended preview={} viewers={}", pv.id, sessions.size());
  auto storing = store_recordings(ctx, pv.id, pv.guide_id);
  co_return co_await std::move(storing);
}

}  // namespace

asio::awaitable<Result<Reply>> preview_stop(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto pv = find_preview(ctx, id);
  if (!pv || !manages(caller, *pv)) co_return no_preview(id);
  array recordings;
  if (pv->state == "live") {
    auto ending = end_preview(ctx, *pv);
    auto stored = co_await std::move(ending);
    for (auto r : stored) recordings.push_back(r);
    pv = find_preview(ctx, id);
  }
  auto out = preview_json(ctx, *pv, true);
  out["recordings"] = std::move(recordings);
  co_return Reply::ok(std::move(out));
}

asio::awaitable<Result<Reply>> preview_list(Context& ctx, const Caller& caller, const object& p) {
  auto state = get_string(p, "state").value_or("live");
  if (state != "live" && state != "ended" && state != "all") co_return Error(Code::invalid_argument, "state: live, ended or all", "state");
  auto limit = get_int(p, "limit").value_or(50);
  if (limit < 1 || limit > 500) co_return Error(Code::invalid_argument, "limit: 1 to 500", "limit");
  auto out = ctx.reads.with([&](store::Db& db) {
    array list;
    // Enough rows to fill the page after the ones the caller may not watch are left out.
    for (const auto& pv : calls::previews::list(db, state == "all" ? "" : state, 0, caller.is_operator() ? limit : limit * 20)) {
      if (static_cast<std::int64_t>(list.size()) >= limit) break;
      if (pv.access == "link" && !manages(caller, pv)) continue;  // those are found by their link
      if (may_watch(db, caller, pv, std::nullopt)) list.push_back(preview_json(ctx, pv, manages(caller, pv)));
    }
    return list;
  });
  co_return Reply::ok(object{{"previews", std::move(out)}});
}

asio::awaitable<Result<Reply>> preview_show(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto pv = ctx.reads.with([&](store::Db& db) -> Result<calls::Preview> {
    auto found = calls::previews::find(db, id);
    if (!found || !may_watch(db, caller, *found, std::nullopt)) return no_preview(id);
    return *found;
  });
  if (!pv) co_return pv.error();
  co_return Reply::ok(preview_json(ctx, *pv, manages(caller, *pv)));
}

asio::awaitable<Result<Reply>> recording_list(Context& ctx, const Caller& caller, const object& p) {
  auto preview = get_int(p, "preview").value_or(0);
  auto limit = get_int(p, "limit").value_or(50);
  if (limit < 1 || limit > 500) co_return Error(Code::invalid_argument, "limit: 1 to 500", "limit");
  auto out = ctx.reads.with([&](store::Db& db) {
    array list;
    for (const auto& r : calls::previews::recordings(db, preview, caller.is_operator() ? limit : limit * 20)) {
      if (static_cast<std::int64_t>(list.size()) >= limit) break;
      if (may_see(db, caller, r)) list.push_back(recording_json(r));
    }
    return list;
  });
  co_return Reply::ok(object{{"recordings", std::move(out)}});
}

namespace {
Result<calls::Recording> visible_recording(Context& ctx, const Caller& caller, std::int64_t id) {
  return ctx.reads.with([&](store::Db& db) -> Result<calls::Recording> {
    auto r = calls::previews::find_recording(db, id);
    if (!r || !may_see(db, caller, *r)) return no_recording(id);
    return *r;
  });
}
}  // namespace

asio::awaitable<Result<Reply>> recording_show(Context& ctx, const Caller& caller, const object& p) {
  auto r = visible_recording(ctx, caller, *get_int(p, "id"));
  if (!r) co_return r.error();
  co_return Reply::ok(recording_json(*r));
}

asio::awaitable<Result<Reply>> recording_download(Context& ctx, const Caller& caller, const object& p) {
  auto r = visible_recording(ctx, caller, *get_int(p, "id"));
  if (!r) co_return r.error();
  Reply out;
  out.content_type = r->content_type;
  out.file = chat::blob_path(ctx.files_dir, r->sha256);
  out.keep_file = true;
  out.disposition = "attachment; filename=\"recording-" + std::to_string(r->id) + ".webm\"";
  co_return out;
}

asio::awaitable<Result<Reply>> recording_remove(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto r = visible_recording(ctx, caller, id);
  if (!r) co_return r.error();
  if (!caller.is_operator() && caller.user_id != r->guide_id)
    co_return Error(Code::permission_denied, "only the preview's guide or an operator removes a recording");
  auto pending = ctx.writer.run<std::optional<std::string>>(
      [id](store::Db& db) -> Result<std::optional<std::string>> { return calls::previews::remove_recording(db, id); });
  auto gone = co_await std::move(pending);
  if (!gone) co_return gone.error();
  std::error_code ec;
  if (*gone) std::filesystem::remove(chat::blob_path(ctx.files_dir, **gone), ec);
  logging::get("calls")->info("calls.recording_removed recording={} preview={} by={}", id, r->preview_id,
                              caller.handle.empty() ? "operator" : caller.handle);
  co_return Reply::ok(object{{"id", id}, {"removed", true}});
}

void preview_sessions_closed(Context& ctx, const SessionsGone& gone) {
  if (!ctx.previews) return;
  std::vector<calls::JanusHandle> handles;
  for (auto& [id, air] : ctx.previews->all())
    std::erase_if(air.viewers, [&](const auto& kv) {
      if (!gone(kv.second.user, kv.second.session)) return false;
      if (kv.second.janus.session) handles.push_back(kv.second.janus);
      return true;
    });
  close_later(ctx, std::move(handles));
}

asio::awaitable<void> end_orphan_previews(Context& ctx) {
  std::set<std::int64_t> here;
  if (ctx.previews)
    for (const auto& [id, air] : ctx.previews->all()) here.insert(id);
  auto pending = ctx.writer.run<std::vector<std::int64_t>>([here](store::Db& db) -> Result<std::vector<std::int64_t>> {
    return calls::previews::end_open(db, timeutil::now_ms(), here);
  });
  auto ended = co_await std::move(pending);
  if (!ended || ended->empty()) co_return;
  logging::get("calls")->warn("calls.previews_interrupted previews={} (left live by the leader before: ended)", ended->size());
  // The guides hear it; the rooms go and what was recorded is stored.
  for (auto id : *ended)
    if (auto pv = find_preview(ctx, id))
      ctx.events.publish(std::span(&pv->guide_id, 1), events::push("preview.ended", object{{"id", id}}));
  auto recovering = recover_previews(ctx, std::move(*ended));
  co_await std::move(recovering);
}

void drop_previews(Context& ctx) {
  if (!ctx.previews || ctx.previews->all().empty()) return;
  std::vector<calls::JanusHandle> handles;
  for (const auto& [id, air] : ctx.previews->all()) {
    if (air.publisher.session) handles.push_back(air.publisher);
    for (const auto& [vid, v] : air.viewers)
      if (v.janus.session) handles.push_back(v.janus);
  }
  auto n = ctx.previews->all().size();
  ctx.previews->all().clear();
  close_later(ctx, std::move(handles));
  logging::get("calls")->warn("calls.previews_handed_over previews={} (this node no longer leads: the new leader ends them)", n);
}

namespace {
const Binding kBindings[] = {
    {"preview.start", preview_start},   {"preview.publish", preview_publish},   {"preview.watch", preview_watch},
    {"preview.answer", preview_answer}, {"preview.stats", preview_stats},       {"preview.leave", preview_leave},
    {"preview.record", preview_record}, {"preview.stop", preview_stop},         {"preview.list", preview_list},
    {"preview.show", preview_show},     {"recording.list", recording_list},     {"recording.show", recording_show},
    {"recording.download", recording_download}, {"recording.remove", recording_remove},
};
}  // namespace

std::span<const Binding> preview_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers

namespace tourbus::api {

namespace asio = boost::asio;
using boost::json::object;

asio::awaitable<void> keep_previews_alive(Context& ctx) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(20));
    auto waiting = timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_await std::move(waiting);
    if (!ctx.previews) co_return;
    std::vector<calls::JanusHandle> handles;
    for (const auto& [id, air] : ctx.previews->all()) {
      if (air.publisher.session) handles.push_back(air.publisher);
      for (const auto& [vid, v] : air.viewers)
        if (v.janus.session) handles.push_back(v.janus);
    }
    if (handles.empty()) continue;
    asio::post(ctx.previews->janus_pool, [cfg = ctx.config.get(), handles] {
      calls::Janus janus(cfg);
      for (const auto& h : handles)
        if (auto ok = janus.keepalive(h); !ok)
          logging::get("calls")->warn("calls.janus_keepalive_failed session={} error=\"{}\"", h.session, ok.error().message);
    });
  }
}

asio::awaitable<void> recover_previews(Context& ctx, std::vector<std::int64_t> ended) {
  if (!ctx.previews) co_return;
  for (auto id : ended) {
    auto pv = ctx.reads.with([&](store::Db& db) { return calls::previews::find(db, id); });
    if (!pv) continue;
    if (!ctx.config.get()->calls_janus_url.empty()) {
      object destroy{{"request", "destroy"}, {"room", calls::room_of(id)}, {"secret", pv->room_secret}};
      auto job9 = handlers::on_pool<bool>(ctx, [cfg = ctx.config.get(), destroy]() -> Result<bool> {
        (void)calls::Janus(cfg).once(destroy);
        return true;
      });
      (void)co_await std::move(job9);
    }
    auto storing = handlers::store_recordings(ctx, id, pv->guide_id);
    co_await std::move(storing);
  }
}

}  // namespace tourbus::api
