// confctl doctor: checks what a call needs, one line each, and says what to fix.
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "client/confctl/commands.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"

namespace confcenter::confctl {
namespace {

constexpr char kApiVersion[] = "confcenter.v1";

// The `exp` claim of a JWT-shaped token (read, not verified: the server verifies), if any.
std::optional<absl::Time> JwtExpiry(const std::string& token) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return std::nullopt;
  std::string payload;
  if (!absl::WebSafeBase64Unescape(parts[1], &payload)) return std::nullopt;
  nlohmann::json claims = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object() || !claims.contains("exp") || !claims["exp"].is_number()) {
    return std::nullopt;
  }
  return absl::FromUnixSeconds(claims["exp"].get<int64_t>());
}

// Whether something accepts a TCP connection at the first address of `server` (a list's
// first entry; "dns:///" dropped), within `timeout`: tells "nothing listens" from "it listens
// but the call still could not connect" (TLS, or plaintext against TLS).
bool TcpReachable(const std::string& server, absl::Duration timeout) {
  std::string address(
      absl::StripPrefix(std::string(server.substr(0, server.find(','))), "dns:///"));
  address = std::string(absl::StripPrefix(address, "ipv4:"));
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return false;
  bool reachable = false;
  for (addrinfo* ai = found; ai != nullptr && !reachable; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      reachable = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int error = 0;
      socklen_t length = sizeof(error);
      reachable = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) == 1 &&
                  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
    }
    close(fd);
  }
  freeaddrinfo(found);
  return reachable;
}

class Report {
 public:
  explicit Report(std::ostream* out) : out_(out) {}
  void Ok(const std::string& check, const std::string& what) { Line("ok  ", check, what); }
  void Warn(const std::string& check, const std::string& what) { Line("warn", check, what); }
  void Fail(const std::string& check, const std::string& what, absl::StatusCode code) {
    Line("FAIL", check, what);
    if (failures_++ == 0) first_code_ = code;
  }
  absl::Status Result() const {
    if (failures_ == 0) return absl::OkStatus();
    return absl::Status(first_code_, absl::StrCat("doctor found ", failures_, " problem",
                                                  failures_ > 1 ? "s" : ""));
  }

 private:
  void Line(const char* mark, const std::string& check, const std::string& what) {
    *out_ << mark << "  " << check << ": " << what << "\n";
  }
  std::ostream* out_;
  int failures_ = 0;
  absl::StatusCode first_code_ = absl::StatusCode::kUnknown;
};

}  // namespace

absl::Status RunDoctor(const Context& ctx, const DoctorArgs& args) {
  Report report(ctx.out);
  const Credentials& c = args.credentials;
  const bool tls = !c.ca_file.empty();
  report.Ok("settings", absl::StrCat("server ", args.server,
                                     args.context.empty() ? "" : " (context ", args.context,
                                     args.context.empty() ? "" : ")", tls ? ", TLS" : ", plaintext",
                                     c.cert_file.empty() ? "" : " with a client certificate",
                                     !c.token_file.empty() ? ", token file"
                                     : !c.token.empty()    ? ", token"
                                                           : ""));
  // The token, read locally: an expired JWT is named even when the server is down.
  std::string token = c.token;
  if (!c.token_file.empty()) {
    absl::StatusOr<std::string> read = TokenSource(c).Token();
    if (!read.ok()) {
      report.Fail("token",
                  absl::StrCat(read.status().message(), ": fix the path or the file's mode"),
                  absl::StatusCode::kUnauthenticated);
    } else {
      token = *read;
    }
  }
  if (!token.empty()) {
    if (std::optional<absl::Time> exp = JwtExpiry(token)) {
      const absl::Duration left = *exp - absl::Now();
      if (left <= absl::ZeroDuration()) {
        report.Fail("token",
                    absl::StrCat("the JWT expired at ", absl::FormatTime(*exp), " (",
                                 absl::FormatDuration(absl::Trunc(-left, absl::Seconds(1))),
                                 " ago): get a new one from its issuer"),
                    absl::StatusCode::kUnauthenticated);
      } else if (left < absl::Minutes(10)) {
        report.Warn("token", absl::StrCat("the JWT expires in ", absl::FormatDuration(absl::Trunc(
                                                                     left, absl::Seconds(1)))));
      } else {
        report.Ok("token", absl::StrCat("a JWT valid until ", absl::FormatTime(*exp)));
      }
    }
  }
  // One call: connectivity, TLS, the token as the server sees it, version and clock.
  const absl::Time sent = absl::Now();
  absl::StatusOr<v1::WhoAmIResponse> who = ctx.client->WhoAmI(v1::WhoAmIRequest());
  const absl::Time received = absl::Now();
  if (!who.ok()) {
    const std::string message(who.status().message());
    if (absl::IsUnauthenticated(who.status())) {
      report.Fail("token",
                  absl::StrCat("the server refused the credentials: ", message,
                               ": renew the token (--token-file) or check --cert/--key"),
                  who.status().code());
    } else if (absl::IsUnimplemented(who.status())) {
      report.Fail("version",
                  "the server has no AccessService: it is older than this confctl; "
                  "upgrade confcenterd",
                  who.status().code());
    } else if ((absl::IsUnavailable(who.status()) || absl::IsDeadlineExceeded(who.status())) &&
               TcpReachable(args.server, ctx.timeout)) {
      // Something listens there, yet the call could not connect.
      if (tls) {
        report.Fail("tls",
                    absl::StrCat("the TLS handshake with ", args.server,
                                 " failed: is --ca the CA that signed the server's certificate, "
                                 "does --server-name match it, and does the server serve TLS?"),
                    who.status().code());
      } else {
        report.Fail("connect",
                    absl::StrCat(args.server, " accepts connections but the call failed (", message,
                                 "): does the server want TLS (--ca)?"),
                    who.status().code());
      }
    } else if (absl::IsUnavailable(who.status()) || absl::IsDeadlineExceeded(who.status())) {
      report.Fail("connect",
                  absl::StrCat(message,
                               ": is confcenterd running there (scripts/serve, "
                               "systemctl status confcenterd)? Right "
                               "--server / context?",
                               tls ? " Does it serve TLS?" : " Does it want TLS (--ca)?"),
                  who.status().code());
    } else {
      report.Fail("call", message, who.status().code());
    }
    return report.Result();
  }
  report.Ok(
      "connect",
      absl::StrCat(args.server, " answered in ",
                   absl::FormatDuration(absl::Trunc(received - sent, absl::Microseconds(100))),
                   tls ? " over TLS" : " (plaintext)"));
  report.Ok("identity", absl::StrCat(who->audit_name().empty() ? who->kind() : who->audit_name(),
                                     who->grants().empty() ? "" : ", roles:", [&] {
                                       std::string roles;
                                       for (const v1::RoleGrant& g : who->grants()) {
                                         absl::StrAppend(&roles, " ", g.role(), "@", g.tenants());
                                       }
                                       return roles;
                                     }()));
  if (who->api_version().empty()) {
    report.Warn("version", "the server does not say its version (older than this confctl)");
  } else if (who->api_version() != kApiVersion) {
    report.Fail("version",
                absl::StrCat("the server serves ", who->api_version(), ", this confctl speaks ",
                             kApiVersion, ": use a confctl of the server's release ",
                             who->server_version()),
                absl::StatusCode::kFailedPrecondition);
  } else {
    report.Ok("version", absl::StrCat("server ", who->server_version(), ", API ",
                                      who->api_version(), "; confctl ", CONFCTL_VERSION));
  }
  if (who->has_server_time()) {
    const absl::Time server = absl::FromUnixNanos(
        google::protobuf::util::TimeUtil::TimestampToNanoseconds(who->server_time()));
    const absl::Duration skew = server - (sent + (received - sent) / 2);
    const absl::Duration bound = (received - sent) / 2 + absl::Milliseconds(500);
    const std::string text = absl::StrCat(
        "the server's clock is ",
        absl::FormatDuration(absl::Trunc(absl::AbsDuration(skew), absl::Milliseconds(1))),
        skew >= absl::ZeroDuration() ? " ahead of" : " behind", " this machine's");
    if (absl::AbsDuration(skew) > absl::Seconds(30)) {
      report.Fail("clock", text + ": token expiry, TTLs and audit times will be off; sync with NTP",
                  absl::StatusCode::kFailedPrecondition);
    } else if (absl::AbsDuration(skew) > bound) {
      report.Warn("clock", text);
    } else {
      report.Ok("clock",
                absl::StrCat("in step with the server (within ",
                             absl::FormatDuration(absl::Trunc(bound, absl::Milliseconds(1))), ")"));
    }
  }
  return report.Result();
}

}  // namespace confcenter::confctl
