#!/usr/bin/env python3
"""Writes the seed corpus of request_fuzz (tests/fuzz/corpus/request/): each seed is a
sequence of calls [1 byte: RPC index][2 bytes LE: length][request bytes], the request given
here in protobuf text format and encoded with protoc. Rerun after changing the list of RPCs
in request_fuzz.cc or the protos: python3 tests/fuzz/make_request_seeds.py"""
import os
import struct
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus", "request")
# The order of `calls` in request_fuzz.cc.
RPCS = ["Put", "Get", "Delete", "Mask", "List", "Resolve", "Txn", "Register", "Deregister",
        "ResolveDependencies", "Touch", "GetTenant", "ListTenants", "History", "ListReleases",
        "GetRelease", "Rollback", "Diff", "QueryAudit", "Subscribe", "SubscribeViews",
        "SetReview", "CreateDraft", "UpdateDraft", "GetDraft", "ListDrafts", "DiscardDraft",
        "PublishDraft", "Promote", "Reset", "StartGray", "GetGray", "PromoteGray", "AbortGray",
        "Explain"]
REQUEST = {rpc: f"confcenter.v1.{rpc}Request" for rpc in RPCS}
REQUEST["PromoteGray"] = REQUEST["AbortGray"] = "confcenter.v1.EndGrayRequest"

def encode(message, text):
    return subprocess.run(
        ["protoc", f"-I{ROOT}/proto", "-I/usr/include", f"--encode={message}",
         "confcenter/v1/config.proto", "confcenter/v1/tenant.proto",
         "confcenter/v1/history.proto", "confcenter/v1/watch.proto",
         "confcenter/v1/release.proto"],
        input=text.encode(), stdout=subprocess.PIPE, check=True).stdout

def seed(name, calls):
    out = b""
    for rpc, text in calls:
        body = encode(REQUEST[rpc], text)
        out += bytes([RPCS.index(rpc)]) + struct.pack("<H", len(body)) + body
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(out)

REGISTER = '''tenant: "f1" services {
  name: "a" version: "1.5.0" protocol: PROTOCOL_GRPC
  endpoints { name: "grpc" port: 9090 }
  defaults { key: "pool.size" value: "8" }
  generated_keys { key: "db.password" kind: GENERATED_KEY_KIND_SECRET }
  health { endpoint: "grpc" path: "grpc.health.v1.Health" } }
services { name: "b" version: "1.4.0" dependencies { service: "a" range: "^1.2" } }
ttl { seconds: 3600 }'''

os.makedirs(OUT, exist_ok=True)
seed("register_write_read", [
    ("Register", REGISTER),
    ("Put", 'tenant: "f1" service: "a" key: "db.url" value: "jdbc:x" content_type: CONTENT_TYPE_TEXT'),
    ("Put", 'tenant: "f1" service: "a" key: "db.url" value: "y" expected_revision: 2'),
    ("Mask", 'tenant: "f1" service: "b" key: "endpoint"'),
    ("Resolve", 'tenant: "f1" services: "a" services: "b"'),
    ("List", 'tenant: "f1" service: "a" prefix: "db." page_size: 1'),
    ("Get", 'tenant: "f1" service: "a" key: "db.url"'),
    ("ResolveDependencies", 'tenant: "f1" service: "b"'),
])
seed("txn_history_rollback", [
    ("Txn", '''ops { type: TXN_OP_TYPE_PUT tenant: "integration" service: "a" key: "k" value: "1" }
               ops { type: TXN_OP_TYPE_MASK tenant: "integration" service: "b" key: "k" }
               release_message: "first"'''),
    ("Txn", 'ops { type: TXN_OP_TYPE_DELETE tenant: "integration" service: "a" key: "k" expected_revision: 2 }'),
    ("History", 'tenant: "integration" service: "a" key: "k" page_size: 1'),
    ("ListReleases", 'tenant: "integration"'),
    ("GetRelease", 'release_id: 2'),
    ("Rollback", 'tenant: "integration" service: "a" to_revision: 2 dry_run: true'),
    ("Rollback", 'tenant: "integration" to_revision: 2 message: "undo"'),
    ("Diff", 'mode: DIFF_MODE_REVISIONS tenant: "integration" from_revision: 1 own_entries: true'),
])
seed("bad_names_and_types", [
    ("Txn", 'ops { type: 7 tenant: "' + "a" * 299 + '\\303\\251" service: "a" key: "k" }'),
    ("Rollback", 'tenant: "' + "a" * 299 + '\\303\\251" service: "s" key: "k" to_revision: 1'),
    ("QueryAudit", 'since { seconds: -62135596801 } page_size: 1001'),
    ("Put", 'tenant: "Feat" service: "a" key: "_endpoint.x" value: "v"'),
    ("Register", 'tenant: "f2" parent: "f2" root: true ttl { seconds: -1 }'),
    ("Deregister", 'tenant: "integration" all: true'),
    ("Diff", 'mode: 9 tenant: "f1"'),
    ("List", 'tenant: "integration" page_token: "not-a-token"'),
])
seed("tenants_and_watch", [
    ("Register", 'tenant: "f3" services { name: "c" } keep: true'),
    ("Subscribe", 'tenant: "f3" services: "c"'),
    ("Subscribe", 'tenant: "f3" start_revision: 1'),
    ("Touch", 'tenant: "f3"'),
    ("GetTenant", 'tenant: "f3"'),
    ("ListTenants", 'page_size: 1'),
    ("Diff", 'mode: DIFF_MODE_PARENT tenant: "f3"'),
    ("Deregister", 'tenant: "f3" services: "c"'),
])
seed("release_workflow", [
    ("Register", 'tenant: "pre" root: true services { name: "a" defaults { key: "k" value: "d" } }'),
    ("SetReview", 'tenant: "pre" review { drafts_required: true publisher_not_author: true }'),
    ("Promote", 'from_tenant: "integration" to_tenant: "pre" dry_run: true remove_missing: true'),
    ("Promote", 'from_tenant: "integration" to_tenant: "pre" message: "from integration"'),
    ("CreateDraft", 'tenant: "pre" message: "m" changes { service: "a" key: "k" op: DRAFT_OP_PUT value: "v" }'),
    ("UpdateDraft", 'tenant: "pre" draft_id: 4 set { service: "a" key: "j" op: DRAFT_OP_MASK } remove { service: "a" key: "k" }'),
    ("PublishDraft", 'tenant: "pre" draft_id: 4 rebase: true'),
    ("Reset", 'tenant: "pre" services: "a" dry_run: true'),
])
seed("release_bad_input", [
    ("CreateDraft", 'tenant: "integration" changes { service: "a" key: "k" op: 9 value: "v" }'),
    ("GetDraft", 'tenant: "integration" draft_id: -1'),
    ("ListDrafts", 'tenant: "nope"'),
    ("DiscardDraft", 'tenant: "integration" draft_id: 0'),
    ("Promote", 'from_tenant: "integration" to_tenant: "integration"'),
    ("Reset", 'tenant: "Bad"'),
    ("PublishDraft", 'tenant: "integration" draft_id: 99999'),
    ("ListDrafts", 'tenant: "integration"'),
])
seed("gray_release", [
    ("Register", 'tenant: "canary" root: true services { name: "a" }'),
    ("StartGray", 'tenant: "canary" changes { service: "a" key: "k" op: DRAFT_OP_PUT value: "1" } audience { selector: "zone=eu,!beta" percentage: 30 service: "a" }'),
    ("Subscribe", 'tenant: "canary" services: "a" instance { instance_id: "i-1" service: "a" labels { key: "zone" value: "eu" } }'),
    ("GetGray", 'tenant: "canary"'),
    ("PromoteGray", 'tenant: "canary" message: "all"'),
    ("StartGray", 'tenant: "canary" changes { service: "a" key: "k" op: DRAFT_OP_MASK } audience { instance_ids: "i-1" }'),
    ("AbortGray", 'tenant: "canary"'),
    ("StartGray", 'tenant: "canary" audience { selector: "a=b=c" percentage: 101 }'),
])
seed("explain", [
    ("Register", 'tenant: "f4" services { name: "a" defaults { key: "k" value: "d" } }'),
    ("Explain", 'tenant: "f4" service: "a" key: "k"'),
    ("Mask", 'tenant: "f4" service: "a" key: "k"'),
    ("Explain", 'tenant: "f4" service: "a" key: "k"'),
    ("CreateDraft", 'tenant: "f4" changes { service: "a" key: "k" op: DRAFT_OP_PUT value: "v" }'),
    ("Explain", 'tenant: "f4" service: "a" key: "zz"'),
    ("Explain", 'tenant: "F4" service: "" key: "_x"'),
    ("Explain", 'tenant: "nope" service: "a" key: "k"'),
])
