// The handlers behind the operation table, one file per family (system_ops.cpp, user_ops.cpp, ...).
#pragma once

#include "api/context.hpp"
#include "api/operation.hpp"

namespace tourbus::api::handlers {

#define TOURBUS_HANDLER(name) \
  boost::asio::awaitable<Result<Reply>> name(Context&, const Caller&, const boost::json::object&)

TOURBUS_HANDLER(notify_send);
TOURBUS_HANDLER(notify_list);
TOURBUS_HANDLER(notify_show);
TOURBUS_HANDLER(queue_status);
TOURBUS_HANDLER(queue_retry);
TOURBUS_HANDLER(queue_purge);
TOURBUS_HANDLER(feed_list);
TOURBUS_HANDLER(feed_read);
TOURBUS_HANDLER(preference_list);
TOURBUS_HANDLER(preference_set);
TOURBUS_HANDLER(template_list);
TOURBUS_HANDLER(template_show);
TOURBUS_HANDLER(template_preview);
TOURBUS_HANDLER(push_subscribe);
TOURBUS_HANDLER(push_unsubscribe);
TOURBUS_HANDLER(push_list);
TOURBUS_HANDLER(push_vapid_key);
TOURBUS_HANDLER(device_register);
TOURBUS_HANDLER(device_unregister);

TOURBUS_HANDLER(status);
TOURBUS_HANDLER(metrics);
TOURBUS_HANDLER(backup);
TOURBUS_HANDLER(reload);
TOURBUS_HANDLER(me);

TOURBUS_HANDLER(user_create);
TOURBUS_HANDLER(user_list);
TOURBUS_HANDLER(user_show);
TOURBUS_HANDLER(user_update);
TOURBUS_HANDLER(user_disable);
TOURBUS_HANDLER(user_enable);

TOURBUS_HANDLER(token_issue);
TOURBUS_HANDLER(token_list);
TOURBUS_HANDLER(token_revoke);

TOURBUS_HANDLER(tour_create);
TOURBUS_HANDLER(tour_list);
TOURBUS_HANDLER(tour_show);
TOURBUS_HANDLER(tour_update);
TOURBUS_HANDLER(tour_join);
TOURBUS_HANDLER(tour_leave);
TOURBUS_HANDLER(tour_cancel);

TOURBUS_HANDLER(conversation_create);
TOURBUS_HANDLER(conversation_list);
TOURBUS_HANDLER(conversation_show);
TOURBUS_HANDLER(conversation_update);
TOURBUS_HANDLER(conversation_add);
TOURBUS_HANDLER(conversation_remove);
TOURBUS_HANDLER(conversation_leave);
TOURBUS_HANDLER(conversation_mute);
TOURBUS_HANDLER(conversation_archive);

TOURBUS_HANDLER(message_send);
TOURBUS_HANDLER(message_history);
TOURBUS_HANDLER(message_search);
TOURBUS_HANDLER(message_edit);
TOURBUS_HANDLER(message_delete);

TOURBUS_HANDLER(receipt);
TOURBUS_HANDLER(typing);
TOURBUS_HANDLER(presence_set);
TOURBUS_HANDLER(presence_list);

TOURBUS_HANDLER(file_upload);
TOURBUS_HANDLER(file_show);
TOURBUS_HANDLER(file_download);

#undef TOURBUS_HANDLER

}  // namespace tourbus::api::handlers
