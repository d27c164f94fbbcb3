// import and export: config files <-> one service's keys.
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/confctl/codec.h"
#include "client/confctl/commands.h"
#include "client/confctl/errors.h"
#include "common/names.h"

namespace confcenter::confctl {
namespace {

// Keep each Txn well below the server's default 8 MiB request limit.
constexpr size_t kMaxTxnBytes = 4 << 20;
// Per-op framing and field overhead, roughly.
constexpr size_t kOpOverheadBytes = 64;

absl::StatusOr<FileFormat> ImportFormat(const ImportArgs& args) {
  absl::StatusOr<FileFormat> format =
      args.format.empty() ? FileFormatFromPath(args.file) : ParseFileFormat(args.format);
  if (!format.ok()) return UsageError(std::string(format.status().message()));
  return format;
}

absl::Status ValidateKeys(const FlatMap& flat) {
  for (const auto& entry : flat) {
    absl::Status status = ValidateKey("key", entry.first);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// PUTs of every key, split into Txns of at most `max_ops` ops and about kMaxTxnBytes.
std::vector<v1::TxnRequest> ImportTxns(const ImportArgs& args, const FlatMap& flat) {
  std::vector<v1::TxnRequest> txns;
  size_t bytes = 0;
  for (const auto& [key, value] : flat) {
    const size_t op_bytes =
        args.tenant.size() + args.service.size() + key.size() + value.size() + kOpOverheadBytes;
    if (txns.empty() || txns.back().ops_size() >= args.max_txn_ops ||
        (bytes + op_bytes > kMaxTxnBytes && txns.back().ops_size() > 0)) {
      txns.emplace_back();
      bytes = 0;
    }
    v1::TxnOp* op = txns.back().add_ops();
    op->set_type(v1::TXN_OP_TYPE_PUT);
    op->set_tenant(args.tenant);
    op->set_service(args.service);
    op->set_key(key);
    op->set_value(value);
    op->set_content_type(v1::CONTENT_TYPE_TEXT);
    bytes += op_bytes;
  }
  return txns;
}

// The status of Txn `index` (0-based) failing, saying what was already committed.
absl::Status PartialImportError(const absl::Status& status, size_t index, size_t total,
                                const std::vector<int64_t>& revisions) {
  if (total == 1) return status;
  std::string committed = revisions.empty()
                              ? "none committed"
                              : absl::StrCat("txns 1-", index, " committed at revisions ",
                                             absl::StrJoin(revisions, ","));
  return absl::Status(status.code(), absl::StrCat("txn ", index + 1, " of ", total, " failed (",
                                                  committed, "): ", status.message()));
}

void PrintImportResult(const Context& ctx, const ImportArgs& args, size_t keys,
                       const std::vector<int64_t>& revisions) {
  if (ctx.format != OutputFormat::kTable) {
    nlohmann::ordered_json doc = {{"tenant", args.tenant},
                                  {"service", args.service},
                                  {"keys", keys},
                                  {"txns", revisions.size()},
                                  {"revisions", revisions}};
    PrintDocument(doc, ctx.format, *ctx.out);
    return;
  }
  *ctx.out << "imported " << keys << " keys into " << args.tenant << "/" << args.service;
  if (revisions.size() == 1) {
    *ctx.out << " at revision " << revisions.front();
  } else if (!revisions.empty()) {
    *ctx.out << " in " << revisions.size() << " txns at revisions "
             << absl::StrJoin(revisions, ",");
  }
  *ctx.out << std::endl;
}

absl::StatusOr<FlatMap> ResolvedValues(const Context& ctx, const ExportArgs& args) {
  v1::ResolveRequest request;
  request.set_tenant(args.tenant);
  request.add_services(args.service);
  absl::StatusOr<v1::ResolveResponse> response = ctx.client->Resolve(request);
  if (!response.ok()) return response.status();
  FlatMap flat;
  for (const v1::ResolvedEntry& entry : response->entries()) {
    if (entry.service() == args.service) flat[entry.key()] = entry.value();
  }
  return flat;
}

absl::StatusOr<FlatMap> OwnValues(const Context& ctx, const ExportArgs& args) {
  v1::ListRequest request;
  request.set_tenant(args.tenant);
  request.set_service(args.service);
  request.set_page_size(1000);
  FlatMap flat;
  do {
    absl::StatusOr<v1::ListResponse> page = ctx.client->List(request);
    if (!page.ok()) return page.status();
    for (const v1::Entry& entry : page->entries()) {
      if (entry.kind() == v1::ENTRY_KIND_VALUE) flat[entry.key()] = entry.value();
    }
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return flat;
}

absl::Status WriteOutput(const Context& ctx, const std::string& path, const std::string& text) {
  if (path == "-") {
    *ctx.out << text;
    ctx.out->flush();
    return absl::OkStatus();
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return UsageError(absl::StrCat("cannot write \"", path, "\""));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunImport(const Context& ctx, const ImportArgs& args) {
  if (args.max_txn_ops < 1) return UsageError("--max-txn-ops must be at least 1");
  absl::StatusOr<FileFormat> format = ImportFormat(args);
  if (!format.ok()) return format.status();
  absl::StatusOr<std::string> text = ReadInput(args.file);
  if (!text.ok()) return text.status();
  absl::StatusOr<FlatMap> flat = DecodeConfig(*text, *format);
  absl::Status valid = flat.ok() ? ValidateKeys(*flat) : flat.status();
  if (!valid.ok()) {
    return absl::Status(valid.code(), absl::StrCat(args.file, ": ", valid.message()));
  }
  const std::vector<v1::TxnRequest> txns = ImportTxns(args, *flat);
  if (txns.size() > 1) {
    *ctx.err << "confctl: note: " << flat->size() << " keys do not fit in one Txn (at most "
             << args.max_txn_ops << " ops): writing them in " << txns.size()
             << " Txns, so the import is not atomic" << std::endl;
  }
  std::vector<int64_t> revisions;
  for (size_t i = 0; i < txns.size(); ++i) {
    absl::StatusOr<v1::TxnResponse> response = ctx.client->Txn(txns[i]);
    if (!response.ok()) {
      return PartialImportError(response.status(), i, txns.size(), revisions);
    }
    revisions.push_back(response->revision());
  }
  PrintImportResult(ctx, args, flat->size(), revisions);
  return absl::OkStatus();
}

absl::Status RunExport(const Context& ctx, const ExportArgs& args) {
  absl::StatusOr<FileFormat> format = ParseFileFormat(args.format);
  if (!format.ok()) return UsageError(std::string(format.status().message()));
  absl::StatusOr<FlatMap> flat = args.own ? OwnValues(ctx, args) : ResolvedValues(ctx, args);
  if (!flat.ok()) return flat.status();
  absl::Status written = WriteOutput(ctx, args.file, EncodeConfig(*flat, *format));
  if (!written.ok() || args.file == "-") return written;
  if (ctx.format == OutputFormat::kTable) {
    *ctx.out << "exported " << flat->size() << " keys of " << args.tenant << "/" << args.service
             << " to " << args.file << std::endl;
  } else {
    PrintDocument({{"tenant", args.tenant},
                   {"service", args.service},
                   {"keys", flat->size()},
                   {"file", args.file}},
                  ctx.format, *ctx.out);
  }
  return absl::OkStatus();
}

}  // namespace confcenter::confctl
