#!/usr/bin/python3
"""Strict schema check of the objects `confctl routes render` prints (no cluster needed).

usage: k8s_schema_check.py FILE...          check every object of each YAML stream
       k8s_schema_check.py --self-test FILE  also show that broken copies of its objects are
                                             rejected (misspelled field, wrong type, missing
                                             required field, bad enum value)

core/v1 objects are walked against the Kubernetes models of Debian's python3-kubernetes
(each model's attribute_map / openapi_types: an unknown field is an error, types are checked
recursively, list[...] and dict(...) included), then deserialized with
kubernetes.client.ApiClient, whose models refuse a missing required field; plus the rules of
the API server the models do not carry (enums, DNS names, port ranges, label syntax). Istio
objects are checked against a JSON Schema written from Istio's networking.istio.io/v1beta1
CRDs for the fields confctl emits, every object closed (additionalProperties: false).
Exit 0 if every object passes, 1 otherwise (each problem on stderr).
"""
import copy
import json
import re
import sys

import jsonschema
import kubernetes.client
import yaml

DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_SUBDOMAIN = re.compile(rf"^(?=.{{1,253}}$){DNS_LABEL}(\.{DNS_LABEL})*$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# The core/v1 kinds confctl may render, by (apiVersion, kind).
CORE_MODELS = {("v1", "Service"): "V1Service"}

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}


def model_class(name):
    return getattr(kubernetes.client.models, name)


def walk(value, type_name, path, errors):
    """Checks `value` against a python-kubernetes type string, e.g. 'list[V1ServicePort]'."""
    if value is None:
        return
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: want a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            walk(item, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\((\w+), (.+)\)", type_name)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: want a map, got {type(value).__name__}")
            return
        for key, item in value.items():
            if not isinstance(key, str):
                errors.append(f"{path}: key {key!r} is not a string")
            walk(item, m.group(2), f"{path}.{key}", errors)
        return
    if type_name in PRIMITIVES:
        want = PRIMITIVES[type_name]
        # bool is an int in python: a boolean where a number belongs is still wrong.
        if not isinstance(value, want) or (type_name in ("int", "float") and isinstance(value, bool)):
            errors.append(f"{path}: want {type_name}, got {type(value).__name__} {value!r}")
        return
    if type_name == "datetime":
        if not isinstance(value, str):
            errors.append(f"{path}: want an RFC 3339 time")
        return
    cls = model_class(type_name)
    if not isinstance(value, dict):
        errors.append(f"{path}: want an object ({type_name}), got {type(value).__name__}")
        return
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            errors.append(f"{path}: unknown field {key!r} in {type_name}")
            continue
        walk(item, cls.openapi_types[by_json[key]], f"{path}.{key}", errors)


class Response:
    """What ApiClient.deserialize reads: a body in .data."""

    def __init__(self, obj):
        self.data = json.dumps(obj)


def check_labels(meta, path, errors):
    for field in ("labels", "annotations"):
        items = meta.get(field) or {}
        if not isinstance(items, dict):
            errors.append(f"{path}.metadata.{field}: not a map")
            continue
        for key, value in items.items():
            prefix, _, name = key.rpartition("/")
            if (prefix and not DNS_SUBDOMAIN.match(prefix)) or not LABEL_NAME.match(name):
                errors.append(f"{path}.metadata.{field}: bad key {key!r}")
            if field == "labels" and not LABEL_VALUE.match(str(value)):
                errors.append(f"{path}.metadata.labels.{key}: bad value {value!r}")


def check_service_rules(obj, path, errors):
    """What the API server validates beyond the model's shape (core/v1 Service)."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        errors.append(f"{path}: metadata and spec must be objects")
        return
    if not DNS_1035.match(str(meta.get("name", ""))):
        errors.append(f"{path}.metadata.name: {meta.get('name')!r} is not a DNS-1035 label")
    if not DNS_SUBDOMAIN.match(str(meta.get("namespace", ""))):
        errors.append(f"{path}.metadata.namespace: {meta.get('namespace')!r} is not a DNS name")
    check_labels(meta, path, errors)
    kind = spec.get("type", "ClusterIP")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        errors.append(f"{path}.spec.type: {kind!r} is not a Service type")
    if kind == "ExternalName" and not DNS_SUBDOMAIN.match(str(spec.get("externalName", ""))):
        errors.append(f"{path}.spec.externalName: {spec.get('externalName')!r} is not a DNS name")
    names = set()
    for i, port in enumerate(spec.get("ports") or []):
        if not isinstance(port, dict):
            continue
        if not isinstance(port.get("port"), int) or not 1 <= port["port"] <= 65535:
            errors.append(f"{path}.spec.ports[{i}].port: {port.get('port')!r} is not 1-65535")
        if port.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
            errors.append(f"{path}.spec.ports[{i}].protocol: {port.get('protocol')!r}")
        name = port.get("name")
        if name in names or (name is not None and not PORT_NAME.match(str(name))):
            errors.append(f"{path}.spec.ports[{i}].name: {name!r} is duplicated or invalid")
        names.add(name)


def check_core(obj, path, errors):
    type_name = CORE_MODELS[(obj.get("apiVersion"), obj.get("kind"))]
    before = len(errors)
    walk(obj, type_name, path, errors)
    if len(errors) == before:
        try:
            kubernetes.client.ApiClient().deserialize(Response(obj), type_name)
        except (ValueError, TypeError) as e:
            errors.append(f"{path}: {type_name}: {e}")
    check_service_rules(obj, path, errors)


def closed(properties, required=()):
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


STRING = {"type": "string"}
STRING_MAP = {"type": "object", "additionalProperties": STRING}
# istio.io/api networking/v1beta1: StringMatch is a oneOf exact | prefix | regex.
STRING_MATCH = {"type": "object", "minProperties": 1, "maxProperties": 1,
                "properties": {"exact": STRING, "prefix": STRING, "regex": STRING},
                "additionalProperties": False}
DESTINATION = closed({
    "host": {"type": "string", "minLength": 1},
    "subset": STRING,
    "port": closed({"number": {"type": "integer", "minimum": 0, "maximum": 4294967295}}),
}, ["host"])
HTTP_MATCH = closed({
    "name": STRING, "uri": STRING_MATCH, "scheme": STRING_MATCH, "method": STRING_MATCH,
    "authority": STRING_MATCH,
    "headers": {"type": "object", "additionalProperties": STRING_MATCH},
    "withoutHeaders": {"type": "object", "additionalProperties": STRING_MATCH},
    "port": {"type": "integer"}, "sourceLabels": STRING_MAP, "gateways": {"type": "array", "items": STRING},
    "queryParams": {"type": "object", "additionalProperties": STRING_MATCH},
    "ignoreUriCase": {"type": "boolean"}, "sourceNamespace": STRING,
})
HTTP_ROUTE = closed({
    "name": STRING,
    "match": {"type": "array", "items": HTTP_MATCH},
    "route": {"type": "array", "minItems": 1, "items": closed({
        "destination": DESTINATION, "weight": {"type": "integer"}, "headers": {"type": "object"},
    }, ["destination"])},
    "timeout": STRING, "retries": {"type": "object"}, "headers": {"type": "object"},
})
TLS = closed({
    "mode": {"enum": ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]},
    "clientCertificate": STRING, "privateKey": STRING, "caCertificates": STRING,
    "credentialName": STRING, "subjectAltNames": {"type": "array", "items": STRING}, "sni": STRING,
    "insecureSkipVerify": {"type": "boolean"},
})
TRAFFIC_POLICY = closed({
    "tls": TLS, "loadBalancer": {"type": "object"}, "connectionPool": {"type": "object"},
    "outlierDetection": {"type": "object"}, "portLevelSettings": {"type": "array"},
})
METADATA = closed({
    "name": {"type": "string", "pattern": DNS_SUBDOMAIN.pattern},
    "namespace": {"type": "string", "pattern": DNS_SUBDOMAIN.pattern},
    "labels": STRING_MAP, "annotations": STRING_MAP,
}, ["name", "namespace"])


def istio_schema(kind, spec):
    return closed({"apiVersion": {"const": "networking.istio.io/v1beta1"}, "kind": {"const": kind},
                   "metadata": METADATA, "spec": spec}, ["apiVersion", "kind", "metadata", "spec"])


ISTIO_SCHEMAS = {
    "VirtualService": istio_schema("VirtualService", closed({
        "hosts": {"type": "array", "minItems": 1, "items": STRING},
        "gateways": {"type": "array", "items": STRING},
        "http": {"type": "array", "items": HTTP_ROUTE},
        "exportTo": {"type": "array", "items": STRING},
    })),
    "DestinationRule": istio_schema("DestinationRule", closed({
        "host": {"type": "string", "minLength": 1},
        "trafficPolicy": TRAFFIC_POLICY,
        "subsets": {"type": "array"},
        "exportTo": {"type": "array", "items": STRING},
    }, ["host"])),
}


def check(obj, path):
    """The problems of one object (empty if it passes)."""
    errors = []
    if not isinstance(obj, dict):
        return [f"{path}: not an object"]
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in CORE_MODELS:
        check_core(obj, path, errors)
    elif key[0] == "networking.istio.io/v1beta1" and key[1] in ISTIO_SCHEMAS:
        validator = jsonschema.Draft7Validator(ISTIO_SCHEMAS[key[1]])
        for e in validator.iter_errors(obj):
            errors.append(f"{path}.{'.'.join(map(str, e.absolute_path))}: {e.message}")
        check_labels(obj.get("metadata") or {}, path, errors)
    else:
        errors.append(f"{path}: no schema for apiVersion {key[0]!r} kind {key[1]!r}")
    return errors


def broken_copies(obj):
    """(what was broken, the broken copy) for one object: each must be rejected."""
    kind = obj["kind"]
    out = []
    b = copy.deepcopy(obj); b["metadata"]["namesapce"] = b["metadata"].pop("namespace")
    out.append(("misspelled metadata field", b))
    b = copy.deepcopy(obj); b["spec"]["extra"] = 1
    out.append(("unknown spec field", b))
    if kind == "Service":
        b = copy.deepcopy(obj); b["spec"]["externalname"] = b["spec"].pop("externalName")
        out.append(("misspelled externalName", b))
        b = copy.deepcopy(obj); b["spec"]["ports"][0]["port"] = str(b["spec"]["ports"][0]["port"])
        out.append(("port as a string", b))
        b = copy.deepcopy(obj); del b["spec"]["ports"][0]["port"]
        out.append(("port missing (required)", b))
        b = copy.deepcopy(obj); b["spec"]["type"] = "External"
        out.append(("unknown Service type", b))
        b = copy.deepcopy(obj); b["spec"]["externalName"] = "10.0.0.1:80"
        out.append(("externalName not a DNS name", b))
        b = copy.deepcopy(obj); b["metadata"]["labels"] = ["not", "a", "map"]
        out.append(("labels as a list", b))
    elif kind == "VirtualService":
        b = copy.deepcopy(obj); route = b["spec"]["http"][0]["route"][0]
        route["destinaton"] = route.pop("destination")
        out.append(("misspelled destination", b))
        b = copy.deepcopy(obj); b["spec"]["http"][0]["route"][0]["destination"]["port"]["number"] = "80"
        out.append(("port number as a string", b))
        b = copy.deepcopy(obj); b["spec"]["hosts"] = "b.integration.svc.cluster.local"
        out.append(("hosts not a list", b))
    elif kind == "DestinationRule":
        b = copy.deepcopy(obj); b["spec"]["trafficPolicy"]["tls"]["mode"] = "MUTUALX"
        out.append(("unknown tls mode", b))
        b = copy.deepcopy(obj); del b["spec"]["host"]
        out.append(("host missing (required)", b))
    return out


def main(argv):
    self_test = argv[:1] == ["--self-test"]
    files = argv[1:] if self_test else argv
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    failed = 0
    checked = 0
    kinds = set()
    for name in files:
        with open(name, encoding="utf-8") as f:
            objects = [o for o in yaml.safe_load_all(f) if o is not None]
        for i, obj in enumerate(objects):
            path = f"{name}[{i}]"
            for error in check(obj, path):
                print(f"FAIL {error}", file=sys.stderr)
                failed += 1
            checked += 1
            kinds.add(obj.get("kind"))
            if self_test:
                for what, broken in broken_copies(obj):
                    if not check(broken, f"{path} ({what})"):
                        print(f"FAIL {path}: the checker accepted a copy with {what}",
                              file=sys.stderr)
                        failed += 1
    print(f"k8s_schema_check: {checked} object(s) of kinds {sorted(kinds)} checked, "
          f"{failed} problem(s){' (with self-test)' if self_test else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
