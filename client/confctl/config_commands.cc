// put, get, delete, mask, list, resolve, txn.
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/confctl/commands.h"
#include "client/confctl/errors.h"
#include "client/confctl/txn_file.h"

namespace confcenter::confctl {
namespace {

std::string Address(const std::string& tenant, const std::string& service, const std::string& key) {
  return absl::StrCat(tenant, "/", service, "/", key);
}

// Prints `line` for tables, else `message` as a JSON or YAML document.
void PrintResult(const Context& ctx, const google::protobuf::Message& message,
                 const std::string& line) {
  if (ctx.format == OutputFormat::kTable) {
    *ctx.out << line << std::endl;
  } else {
    PrintMessage(message, ctx.format, *ctx.out);
  }
}

std::vector<std::string> EntryRow(const v1::Entry& entry) {
  return {entry.service(),
          entry.key(),
          EntryKindName(entry.kind()),
          entry.kind() == v1::ENTRY_KIND_MASK ? "" : ContentTypeName(entry.content_type()),
          absl::StrCat(entry.revision()),
          CutValue(entry.value())};
}

}  // namespace

absl::StatusOr<std::string> ReadInput(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return UsageError(absl::StrCat("cannot read \"", path, "\""));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status RunPut(const Context& ctx, const PutArgs& args) {
  absl::StatusOr<v1::ContentType> content_type = ParseContentType(args.content_type);
  if (!content_type.ok()) return UsageError(std::string(content_type.status().message()));
  v1::PutRequest request;
  request.set_tenant(args.key.tenant);
  request.set_service(args.key.service);
  request.set_key(args.key.key);
  request.set_value(args.value);
  request.set_content_type(*content_type);
  if (args.expected_revision) request.set_expected_revision(*args.expected_revision);
  absl::StatusOr<v1::PutResponse> response = ctx.client->Put(request);
  if (!response.ok()) return response.status();
  PrintResult(ctx, *response,
              absl::StrCat("put ", Address(args.key.tenant, args.key.service, args.key.key),
                           " at revision ", response->revision()));
  return absl::OkStatus();
}

absl::Status RunGet(const Context& ctx, const KeyArgs& args) {
  v1::GetRequest request;
  request.set_tenant(args.tenant);
  request.set_service(args.service);
  request.set_key(args.key);
  absl::StatusOr<v1::GetResponse> response = ctx.client->Get(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  Table table({"SERVICE", "KEY", "KIND", "TYPE", "REVISION", "VALUE"});
  table.AddRow(EntryRow(response->entry()));
  table.Print(*ctx.out);
  return absl::OkStatus();
}

absl::Status RunDelete(const Context& ctx, const KeyArgs& args,
                       std::optional<int64_t> expected_revision) {
  v1::DeleteRequest request;
  request.set_tenant(args.tenant);
  request.set_service(args.service);
  request.set_key(args.key);
  if (expected_revision) request.set_expected_revision(*expected_revision);
  absl::StatusOr<v1::DeleteResponse> response = ctx.client->Delete(request);
  if (!response.ok()) return response.status();
  PrintResult(ctx, *response,
              absl::StrCat("deleted ", Address(args.tenant, args.service, args.key),
                           " at revision ", response->revision()));
  return absl::OkStatus();
}

absl::Status RunMask(const Context& ctx, const KeyArgs& args,
                     std::optional<int64_t> expected_revision) {
  v1::MaskRequest request;
  request.set_tenant(args.tenant);
  request.set_service(args.service);
  request.set_key(args.key);
  if (expected_revision) request.set_expected_revision(*expected_revision);
  absl::StatusOr<v1::MaskResponse> response = ctx.client->Mask(request);
  if (!response.ok()) return response.status();
  PrintResult(ctx, *response,
              absl::StrCat("masked ", Address(args.tenant, args.service, args.key), " at revision ",
                           response->revision()));
  return absl::OkStatus();
}

absl::Status RunList(const Context& ctx, const ListArgs& args) {
  v1::ListRequest request;
  request.set_tenant(args.tenant);
  request.set_service(args.service);
  request.set_prefix(args.prefix);
  request.set_page_size(1000);
  v1::ListResponse all;
  do {
    absl::StatusOr<v1::ListResponse> page = ctx.client->List(request);
    if (!page.ok()) return page.status();
    all.set_revision(page->revision());
    for (v1::Entry& entry : *page->mutable_entries()) *all.add_entries() = std::move(entry);
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(all, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  Table table({"SERVICE", "KEY", "KIND", "TYPE", "REVISION", "VALUE"});
  for (const v1::Entry& entry : all.entries()) table.AddRow(EntryRow(entry));
  table.Print(*ctx.out);
  return absl::OkStatus();
}

absl::Status RunResolve(const Context& ctx, const std::string& tenant,
                        const std::vector<std::string>& services) {
  v1::ResolveRequest request;
  request.set_tenant(tenant);
  for (const std::string& service : services) request.add_services(service);
  absl::StatusOr<v1::ResolveResponse> response = ctx.client->Resolve(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  Table table({"SERVICE", "KEY", "SOURCE", "REVISION", "TYPE", "VALUE"});
  for (const v1::ResolvedEntry& entry : response->entries()) {
    table.AddRow({entry.service(), entry.key(), entry.source_tenant(),
                  absl::StrCat(entry.revision()), ContentTypeName(entry.content_type()),
                  CutValue(entry.value())});
  }
  table.Print(*ctx.out);
  return absl::OkStatus();
}

absl::Status RunTxn(const Context& ctx, const std::string& file, const std::string& message) {
  absl::StatusOr<std::string> text = ReadInput(file);
  if (!text.ok()) return text.status();
  absl::StatusOr<v1::TxnRequest> request = ParseTxnFile(*text);
  if (!request.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", request.status().message()));
  }
  request->set_release_message(message);
  absl::StatusOr<v1::TxnResponse> response = ctx.client->Txn(*request);
  if (!response.ok()) return response.status();
  PrintResult(
      ctx, *response,
      absl::StrCat("txn of ", request->ops_size(), " ops at revision ", response->revision()));
  return absl::OkStatus();
}

}  // namespace confcenter::confctl
