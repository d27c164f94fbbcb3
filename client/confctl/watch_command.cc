// watch: a tenant's resolved view, live.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/confctl/commands.h"
#include "client/confctl/errors.h"

namespace confcenter::confctl {
namespace {

// Column widths of the streamed table (it cannot be aligned to rows not seen yet).
constexpr size_t kWatchWidths[] = {8, 8, 16, 28, 40};
constexpr size_t kWatchValueChars = 40;

// Cells padded to kWatchWidths (the last, SOURCE, unpadded), two spaces apart.
std::string WatchLine(const std::vector<std::string>& cells) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) line += "  ";
    line += cells[i];
    if (i < std::size(kWatchWidths)) {
      const size_t width = DisplayWidth(cells[i]);
      if (width < kWatchWidths[i]) line.append(kWatchWidths[i] - width, ' ');
    }
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

void PrintTableMessage(const Context& ctx, const v1::SubscribeResponse& message) {
  const std::string revision = absl::StrCat(message.revision());
  if (message.resync() && message.snapshot_last()) {
    *ctx.err << "confctl: note: the requested revision cannot be replayed (the change log no "
                "longer reaches it, or it is of another epoch: the store was restored since); "
                "started again from a snapshot at revision "
             << revision << " of epoch " << message.epoch() << std::endl;
  }
  for (const v1::ResolvedEntry& entry : message.entries()) {
    *ctx.out << WatchLine({revision, "SNAPSHOT", entry.service(), entry.key(),
                           CutValue(entry.value(), kWatchValueChars), entry.source_tenant()})
             << "\n";
  }
  for (const v1::WatchEvent& event : message.events()) {
    const std::string type = event.type() == v1::WatchEvent::TYPE_PUT ? "PUT" : "DELETE";
    *ctx.out << WatchLine({revision, type, event.service(), event.key(),
                           CutValue(event.value(), kWatchValueChars), event.source_tenant()})
             << "\n";
  }
  ctx.out->flush();
}

// Reads the rest of a cancelled stream and discards its status.
void Drain(WatchStream* stream) {
  v1::SubscribeResponse ignored;
  while (stream->Read(&ignored)) {
  }
  stream->Finish().IgnoreError();
}

// Waits until the channel is connected: fails at once when connecting fails, and after
// ctx.timeout when it takes longer (a stream has no deadline of its own).
absl::Status Connect(const Context& ctx) {
  grpc::Channel& channel = *ctx.client->channel();
  const auto deadline = absl::ToChronoTime(absl::Now() + ctx.timeout);
  const std::string& address = ctx.client->options().address;
  for (grpc_connectivity_state state = channel.GetState(true); state != GRPC_CHANNEL_READY;
       state = channel.GetState(true)) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
    }
    if (!channel.WaitForStateChange(state, deadline)) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", address, " within ",
                                                 absl::FormatDuration(ctx.timeout)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunWatch(const Context& ctx, const WatchArgs& args) {
  if (args.count < 0) return UsageError("--count must not be negative");
  v1::SubscribeRequest request;
  request.set_tenant(args.tenant);
  for (const std::string& service : args.services) request.add_services(service);
  if (args.from_revision) request.set_start_revision(*args.from_revision);
  request.set_epoch(args.epoch);
  absl::Status connected = Connect(ctx);
  if (!connected.ok()) return connected;
  std::unique_ptr<WatchStream> stream = ctx.client->Subscribe(request);
  v1::SubscribeResponse message;
  bool header_printed = false;
  int64_t events = 0;
  while (stream->Read(&message)) {
    if (ctx.format != OutputFormat::kTable) {
      PrintStreamDocument(ProtoToJson(message), ctx.format, *ctx.out);
    } else {
      if (!header_printed) {
        *ctx.out << WatchLine({"REVISION", "TYPE", "SERVICE", "KEY", "VALUE", "SOURCE"}) << "\n";
        header_printed = true;
      }
      PrintTableMessage(ctx, message);
    }
    if (message.kind() == v1::SUBSCRIBE_RESPONSE_KIND_EVENTS && args.count > 0 &&
        ++events >= args.count) {
      stream->Cancel();
      Drain(stream.get());
      return absl::OkStatus();
    }
  }
  return stream->Finish();
}

}  // namespace confcenter::confctl
