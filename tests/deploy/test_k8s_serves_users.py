"""The Kubernetes overlays serve users: reachable where the README says, closed everywhere else.

Schema validation (test_compose_and_k8s.py) only says the objects are well formed. These
checks render each overlay and read it the way the cluster would:

- **routes**: every public path in README.md resolves, through the Gateway API's own
  precedence (Exact before the longest PathPrefix), to the service that serves it; no
  internal path (``/metrics``, ``/readyz``, ``/healthz``, ``/asyncapi.json``) resolves at all;
- **settings**: every setting a service requires in a cluster is set on its Deployment. The
  list is read from its settings class: fields with no default, and fields whose default
  only works on a developer's machine (127.0.0.1, localhost, or an empty secret or URL that
  falls back to one), with the email transport's fields for the backend the Deployment picks;
- **network**: a default deny exists in the namespace, every Service (the manifests' own and
  the ones the operators create for the pooler, database and broker) has a NetworkPolicy
  that lets in only named peers on its port, and each service reaches only its own database's
  pooler, the broker, and identity if its settings name identity.

Each check is a function returning its problems, so the tests below also show that it finds
a problem planted in an otherwise good rendering (a check that cannot fail proves nothing).
Gateway API, CloudNativePG and KEDA schemas are not available offline to
kubernetes-validate: ``crd_schemas/`` holds hand-written subsets with the upstream required
fields, and test_compose_and_k8s.py validates every rendered object against them.
"""

from __future__ import annotations

import copy
import importlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings
from starlette.routing import Match

from shared.messaging.topology import subscriptions
from tests.deploy.test_compose_and_k8s import (
    NAMESPACE,
    OVERLAYS,
    ROOT,
    SERVICES,
    by_kind,
    render,
)

Objects = tuple[dict[str, Any], ...]

INTERNAL_PATHS = ("/metrics", "/readyz", "/healthz", "/asyncapi.json")
#: The OpenAPI pages are for the team and integrators, not users: the README lists /docs with
#: the internal endpoints every service has, so the edge does not route it either.
DEVELOPER_PATHS = ("/docs", "/openapi.json", "/redoc")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
#: Public surfaces the README names only in prose, without a path: the back office's home
#: page (its address is printed by scripts/run.sh) and reporting's MI page and API for DHSC
#: (docs/adr/0024-mi-page-server-drawn-svg.md).
PROSE_SURFACES = (
    ("verification", "GET", "/"),
    ("reporting", "GET", "/mi"),
    ("reporting", "GET", "/api/mi/summary"),
    ("reporting", "GET", "/api/mi/figures.csv"),
)
LOCAL_MARKERS = ("127.0.0.1", "localhost")
#: The email transport's fields each backend reads (shared/email/settings.py): a cluster must
#: set every one of the chosen backend's, since their defaults are a local SMTP catcher's.
EMAIL_FIELDS_BY_BACKEND = {
    "smtp": {"smtp_host", "smtp_port", "sender_address"},
    "notify": {"notify_api_key", "notify_template_id"},
}


# --- the README's public paths ---------------------------------------------------------------


@dataclass(frozen=True)
class PublicPath:
    service: str
    method: str
    path: str


_SPAN = re.compile(r"`([^`]+)`")
_METHOD_PATH = re.compile(rf"^(?:(?P<method>{'|'.join(METHODS)}) )?(?P<path>(?:/|\.\.\.)\S*)$")
_SECTION_SERVICE = re.compile(r"\((?P<service>\w+), port \d+\)")
_DEFAULT_SERVICE = re.compile(r"\((?P<service>\w+) unless said otherwise\)")


def _candidates(spec: str, base: str | None) -> list[str]:
    """Full paths a README shorthand may stand for, given the row's first full path.

    ``.../check`` after ``/api/password-reset`` and ``/where`` after ``/eligibility/who``
    both abbreviate: the first appends to the base or replaces its last segment; the
    second is a sibling of the base or a path of its own.
    """
    rest = spec.removeprefix("...")
    found = [] if spec.startswith("...") else [spec]
    if base:
        parent = base.rsplit("/", 1)[0]
        found += [base.rstrip("/") + rest, parent + rest]
    return found


def readme_public_paths() -> list[tuple[str, str, list[str]]]:
    """(service, method, candidate paths) for each public route or page README.md lists.

    Tables under a "(service, port N)" heading belong to that service, the privacy table to
    the service its intro names unless a row says "(orders)"; a ``/path`` span in such a
    section's prose is that service's (except the developer pages, /docs); a
    ``METHOD /path`` span followed by "on <service>" anywhere names its service. ``a|b`` in a
    span lists alternatives.
    """
    found: list[tuple[str, str, list[str]]] = []
    section_service: str | None = None
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("#"):
            match = _SECTION_SERVICE.search(line)
            section_service = match.group("service") if match else None
            continue
        if match := _DEFAULT_SERVICE.search(line):
            section_service = match.group("service")
        for on in re.finditer(rf"`((?:{'|'.join(METHODS)}) /[^`]+)` on (\w+)", line):
            method, path = on.group(1).split(" ", 1)
            found.append((on.group(2), method, [path]))
        if section_service is None:
            continue
        if line.startswith("| ") and not line.startswith(("| page", "| route", "| ---")):
            first, rest = line.split("|")[1], "|".join(line.split("|")[2:])
            owner = re.search(r"\((\w+)\)", first + rest)
            service = owner.group(1) if owner and owner.group(1) in SERVICES else section_service
            # The route column, then the description's own paths ("read it at `GET ...`").
            for column in (first, rest):
                base = None
                method = "GET"
                for span in _SPAN.findall(column):
                    if span in METHODS:
                        method = span
                        continue
                    parsed = _METHOD_PATH.match(span)
                    if parsed is None or (column is rest and base is None and "..." in span[:3]):
                        continue
                    method = parsed.group("method") or method
                    spec = parsed.group("path")
                    found.append((service, method, _candidates(spec, base)))
                    if base is None and not spec.startswith("..."):
                        base = spec
        elif not line.startswith("|"):
            for span in _SPAN.findall(line):
                parsed = _METHOD_PATH.match(span)
                path = parsed.group("path") if parsed else ""
                if path.startswith("/") and path not in INTERNAL_PATHS + DEVELOPER_PATHS:
                    assert parsed is not None
                    head, _, alternatives = path.rpartition("/")
                    for leaf in alternatives.split("|"):
                        method = parsed.group("method") or "GET"
                        found.append((section_service, method, [f"{head}/{leaf}"]))
    return found


def concrete(path: str) -> str:
    """A path a client could send: placeholders filled, query dropped."""
    path = re.sub(r"/\.\.\.$", "/x1", path.split("?")[0])
    return re.sub(r"\{[^}]+\}", "x1", path)


@cache
def app_of(service: str) -> Any:
    return importlib.import_module(f"services.{service}.app").app


def serves(service: str, method: str, path: str) -> bool:
    scope = {
        "type": "http",
        "path": path,
        "method": method,
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }
    return any(route.matches(scope)[0] == Match.FULL for route in app_of(service).router.routes)


def route_templates(routes: Iterable[Any], prefix: str = "") -> Iterable[str]:
    """Every path template an app serves (routers included with a prefix, mounts)."""
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            context_prefix = getattr(route.include_context, "prefix", "") or ""
            yield from route_templates(route.original_router.routes, prefix + context_prefix)
        elif hasattr(route, "path"):
            yield prefix + route.path


def serves_under(service: str, prefix: str) -> bool:
    """Whether the service serves the prefix itself or anything below it."""
    prefix = prefix.rstrip("/")
    return any(
        template == prefix or template.startswith(prefix + "/")
        for template in route_templates(app_of(service).router.routes)
    )


@cache
def public_paths() -> tuple[PublicPath, ...]:
    """The README's public paths, each resolved to the one its service actually serves."""
    resolved = []
    for service, method, candidates in readme_public_paths():
        served = [c for c in candidates if serves(service, method, concrete(c))]
        assert served, f"README lists {method} {candidates} for {service}, which serves none"
        resolved.append(PublicPath(service, method, concrete(served[0])))
    for service, method, path in PROSE_SURFACES:
        assert serves(service, method, path), (service, method, path)
        resolved.append(PublicPath(service, method, path))
    return tuple(resolved)


def test_the_readme_reader_finds_every_public_surface() -> None:
    paths = public_paths()
    by_service = {s: {p.path for p in paths if p.service == s} for s in SERVICES}
    # One sample per kind of shorthand and per service, so a README reshuffle that the
    # reader silently misses fails here rather than shrinking the route check.
    assert {"/", "/eligibility/where", "/order/staff", "/orders/x1/cancel"} <= by_service["orders"]
    assert {"/api/orders", "/api/orders/x1/recipient"} <= by_service["orders"]
    assert {"/api/sign-in", "/api/token", "/api/account", "/api/password-reset/check"} <= (
        by_service["identity"]
    )
    assert {"/api/accounts/x1/anonymise", "/api/subject-access/x1/page"} <= by_service["identity"]
    assert {"/", "/api/reviews", "/api/orders/search", "/api/accounts/x1/disable"} <= (
        by_service["verification"]
    )
    assert by_service["dispatch"] == {"/api/courier/status"}
    assert {"/mi", "/api/mi/summary"} <= by_service["reporting"]
    assert len(paths) >= 45


# --- Gateway API routing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    route: str
    hosts: tuple[str, ...]
    match_type: str
    value: str
    method: str | None
    backends: tuple[tuple[str, int], ...]


def rules(objects: Objects, listener_protocol: str = "HTTPS") -> list[Rule]:
    """Every (host, path match) -> backends of the HTTPRoutes attached to the Gateway."""
    gateways = by_kind(objects, "Gateway")
    found = []
    for name, route in by_kind(objects, "HTTPRoute").items():
        spec = route["spec"]
        for parent in spec["parentRefs"]:
            gateway = gateways[parent["name"]]
            listeners = [
                listener
                for listener in gateway["spec"]["listeners"]
                if parent.get("sectionName") in (None, listener["name"])
                and listener["protocol"] == listener_protocol
            ]
            hosts = tuple(spec.get("hostnames") or [x.get("hostname", "*") for x in listeners])
            if not listeners:
                continue
            for rule in spec["rules"]:
                backends = tuple((b["name"], b["port"]) for b in rule.get("backendRefs", []))
                for match in rule.get("matches") or [{}]:
                    path = match.get("path", {"type": "PathPrefix", "value": "/"})
                    found.append(
                        Rule(
                            name, hosts, path["type"], path["value"], match.get("method"), backends
                        )
                    )
    return found


def _prefix_matches(prefix: str, path: str) -> bool:
    """Gateway API PathPrefix: whole path elements, a trailing slash ignored."""
    prefix = prefix.rstrip("/")
    return prefix == "" or path == prefix or path.startswith(prefix + "/")


def resolve(objects: Objects, host: str, method: str, path: str) -> Rule | None:
    """The rule the Gateway picks for a request: Exact first, then the longest prefix."""
    candidates = [
        r
        for r in rules(objects)
        if host in r.hosts
        and (r.method is None or r.method == method)
        and (
            (r.match_type == "Exact" and r.value == path)
            or (r.match_type == "PathPrefix" and _prefix_matches(r.value, path))
        )
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r.match_type == "Exact", len(r.value)))


def hosts_of(objects: Objects) -> set[str]:
    return {h for r in rules(objects) for h in r.hosts}


def route_problems(objects: Objects) -> list[str]:
    problems = []
    services = by_kind(objects, "Service")
    hosts = hosts_of(objects)
    for public in public_paths():
        picked = [
            (host, rule)
            for host in sorted(hosts)
            if (rule := resolve(objects, host, public.method, public.path))
        ]
        if not any(
            rule.backends and {b for b, _ in rule.backends} == {public.service}
            for _, rule in picked
        ):
            problems.append(f"{public.method} {public.path} ({public.service}) has no route")
    for host in sorted(hosts):
        for path in INTERNAL_PATHS + DEVELOPER_PATHS:
            for probe in (path, path + "/"):
                for method in ("GET", "POST"):
                    if rule := resolve(objects, host, method, probe):
                        problems.append(f"internal {probe} is routed on {host} by {rule.route}")
    for rule in rules(objects):
        for backend, port in rule.backends:
            ports = (
                {p["port"] for p in services[backend]["spec"]["ports"]}
                if backend in services
                else set()
            )
            if port not in ports:
                problems.append(f"{rule.route} sends to {backend}:{port}, no such Service port")
            elif rule.match_type == "Exact" and not serves(
                backend, rule.method or "GET", rule.value
            ):
                problems.append(f"{rule.route}: {backend} does not serve {rule.value}")
            elif rule.match_type == "PathPrefix" and not serves_under(backend, rule.value):
                problems.append(f"{rule.route}: {backend} serves nothing under {rule.value}")
        if rule.match_type not in ("Exact", "PathPrefix"):
            problems.append(f"{rule.route}: {rule.match_type} matches are not allowed")
    # Plain HTTP only redirects to HTTPS: no rule on an HTTP listener reaches a service.
    for rule in rules(objects, listener_protocol="HTTP"):
        if rule.backends:
            problems.append(f"{rule.route} serves plain HTTP")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_public_path_is_routed_and_no_internal_one(overlay: str) -> None:
    assert route_problems(render(f"overlays/{overlay}")) == []


def _route(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "HTTPRoute" and o["metadata"]["name"] == name)


def test_the_route_check_finds_a_missing_route_and_a_catch_all() -> None:
    objects = copy.deepcopy(list(render("overlays/production")))
    site = _route(objects, "public-site")
    identity_rule = site["spec"]["rules"][1]
    identity_rule["matches"] = [
        m for m in identity_rule["matches"] if m["path"]["value"] != "/api/token"
    ]
    site["spec"]["rules"][0]["matches"].append({"path": {"type": "PathPrefix", "value": "/"}})
    problems = route_problems(tuple(objects))
    assert "POST /api/token (identity) has no route" in problems
    assert any(p.startswith("internal /metrics is routed on badges.example.org") for p in problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_terminates_tls_per_host_and_redirects_http(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    (gateway,) = by_kind(objects, "Gateway").values()
    listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
    https = [listener for listener in listeners.values() if listener["protocol"] == "HTTPS"]
    assert {listener["hostname"] for listener in https} == hosts_of(objects)
    from tests.deploy.test_compose_and_k8s import OUT_OF_BAND_SECRETS, OVERLAY_EXPECTATIONS

    assert hosts_of(objects) == OVERLAY_EXPECTATIONS[overlay][3]
    for listener in https:
        assert listener["port"] == 443 and listener["tls"]["mode"] == "Terminate"
        (cert,) = listener["tls"]["certificateRefs"]
        assert cert["name"] in OUT_OF_BAND_SECRETS
    assert listeners["http"]["port"] == 80
    redirects = [
        route
        for route in by_kind(objects, "HTTPRoute").values()
        if any(p.get("sectionName") == "http" for p in route["spec"]["parentRefs"])
    ]
    assert len(redirects) == 1
    (rule,) = redirects[0]["spec"]["rules"]
    assert rule["filters"] == [
        {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
    ]
    assert "backendRefs" not in rule


# --- required settings -----------------------------------------------------------------------


def _settings_class(service: str) -> type[BaseSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    (cls,) = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, BaseSettings) and c.__module__ == module.__name__
    ]
    return cls


def _env_name(cls: type[BaseSettings], name: str) -> str:
    alias = cls.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def _local_default(cls: type[BaseModel], name: str) -> bool:
    """A default that only works on a developer's machine, or an empty secret or URL."""
    field = cls.model_fields[name]
    if field.is_required():
        return True
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        return False
    if any(marker in repr(default) for marker in LOCAL_MARKERS):
        return True
    return default == "" and (field.repr is False or name.endswith("_url"))


def required_settings(service: str, deployment_env: dict[str, str | None]) -> set[str]:
    """The environment variables a service needs in a cluster, from its settings class."""
    cls = _settings_class(service)
    required = {_env_name(cls, name) for name in cls.model_fields if _local_default(cls, name)}
    for name, field in cls.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseSettings):
            # A settings object of its own (the email transport), read with its own prefix.
            prefix = str(nested.model_config.get("env_prefix", ""))
            backend_var = f"{prefix}BACKEND"
            required.add(backend_var)
            backend = deployment_env.get(backend_var) or nested.model_fields["backend"].default
            # Each of the chosen transport's fields: their defaults are a local catcher's.
            required |= {_env_name(nested, sub) for sub in EMAIL_FIELDS_BY_BACKEND[backend]}
    return required


def deployment_env(objects: Objects, service: str) -> dict[str, str | None]:
    """Every variable the container gets: env (literal or secret) and envFrom ConfigMaps."""
    configmaps = by_kind(objects, "ConfigMap")
    (container,) = by_kind(objects, "Deployment")[service]["spec"]["template"]["spec"]["containers"]
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for var in container.get("env", []):
        env[var["name"]] = var.get("value")  # None: from a Secret
    return env


def settings_problems(objects: Objects) -> list[str]:
    problems = []
    for service in SERVICES:
        env = deployment_env(objects, service)
        for var in sorted(required_settings(service, env)):
            if var not in env:
                problems.append(f"{service}: {var} is not set")
            elif (value := env[var]) is not None and (
                not value or any(marker in value for marker in LOCAL_MARKERS)
            ):
                problems.append(f"{service}: {var}={value!r} points at the pod itself")
    return problems


def test_the_required_settings_are_read_from_the_settings_classes() -> None:
    orders = required_settings("orders", {"CARE_EMAIL_BACKEND": "notify"})
    assert {
        "CARE_ORDERS_DATABASE_URL",
        "CARE_AMQP_URL",
        "CARE_TOKEN_PUBLIC_KEY",
        "CARE_ORDERS_IDENTITY_URL",
        "CARE_EMAIL_BACKEND",
        "CARE_EMAIL_NOTIFY_API_KEY",
        "CARE_EMAIL_NOTIFY_TEMPLATE_ID",
    } <= orders
    assert "CARE_EMAIL_SMTP_HOST" not in orders
    assert "CARE_EMAIL_SMTP_HOST" in required_settings("orders", {"CARE_EMAIL_BACKEND": "smtp"})
    assert "CARE_DISPATCH_COURIER_HMAC_SECRET" in required_settings("dispatch", {})
    assert {
        "CARE_IDENTITY_TOKEN_PRIVATE_KEY",
        "CARE_IDENTITY_PUBLIC_SITE_URL",
        "CARE_IDENTITY_TRUSTED_PROXIES",
    } <= required_settings("identity", {"CARE_EMAIL_BACKEND": "notify"})
    assert "CARE_VERIFICATION_IDENTITY_URL" in required_settings("verification", {})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_each_service_requires_is_set_on_its_deployment(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    assert settings_problems(objects) == []
    services = by_kind(objects, "Service")
    for service in ("orders", "verification"):
        url = deployment_env(objects, service)[f"CARE_{service.upper()}_IDENTITY_URL"]
        assert url == f"http://identity:{services['identity']['spec']['ports'][0]['port']}"
    public_site = deployment_env(objects, "identity")["CARE_IDENTITY_PUBLIC_SITE_URL"]
    (site_host,) = {h for r in rules(objects) if r.route == "public-site" for h in r.hosts}
    assert public_site == f"https://{site_host}"


def test_the_settings_check_finds_a_missing_identity_url() -> None:
    objects = copy.deepcopy(list(render("overlays/production")))
    orders = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "orders"
    )
    container = orders["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [e for e in container["env"] if e["name"] != "CARE_ORDERS_IDENTITY_URL"]
    assert settings_problems(tuple(objects)) == ["orders: CARE_ORDERS_IDENTITY_URL is not set"]


# --- network policies ------------------------------------------------------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert not selector.get("matchExpressions"), "only matchLabels is read here"
    wanted: dict[str, str] = selector.get("matchLabels", {})
    return wanted.items() <= labels.items()


def _port_allowed(ports: list[dict[str, Any]] | None, port: int) -> bool:
    if not ports:
        return True
    return any(p["port"] <= port <= p.get("endPort", p["port"]) for p in ports)


@dataclass(frozen=True)
class Workload:
    """Pods a Service (or an operator's Service) sends to, by their labels and ports."""

    name: str
    labels: dict[str, str]
    ports: tuple[int, ...]


def workloads(objects: Objects) -> list[Workload]:
    found = []
    deployments = by_kind(objects, "Deployment")
    for name, service in by_kind(objects, "Service").items():
        selector = service["spec"]["selector"]
        pods = [
            d["spec"]["template"]["metadata"]["labels"]
            for d in deployments.values()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert pods, f"Service {name} selects no pods in the manifests"
        ports = tuple(p["port"] for p in service["spec"]["ports"])
        found.append(Workload(name, pods[0], ports))
    # The operators' Services and the pods behind them (their documented labels).
    for name, pooler in by_kind(objects, "Pooler").items():
        labels = {"cnpg.io/poolerName": name, "cnpg.io/podRole": "pooler"}
        labels["cnpg.io/cluster"] = pooler["spec"]["cluster"]["name"]
        found.append(Workload(name, labels, (5432,)))
    for name in by_kind(objects, "Cluster"):
        found.append(
            Workload(name, {"cnpg.io/cluster": name, "cnpg.io/podRole": "instance"}, (5432,))
        )
    for name in by_kind(objects, "RabbitmqCluster"):
        found.append(Workload(name, {"app.kubernetes.io/name": name}, (5672, 15672, 15692)))
    for name in by_kind(objects, "Alertmanager"):
        labels = {"app.kubernetes.io/name": "alertmanager", "alertmanager": name}
        found.append(Workload(f"alertmanager-{name}", labels, (9093, 9094)))
    return found


def _policies(objects: Objects) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


def _peers_in(rules_: Iterable[dict[str, Any]], key: str, port: int) -> list[dict[str, Any]]:
    return [peer for rule in rules_ if _port_allowed(rule.get("ports"), port) for peer in rule[key]]


def ingress_peers(objects: Objects, labels: dict[str, str], port: int) -> list[dict[str, Any]]:
    return _peers_in(
        (
            rule
            for policy in _policies(objects)
            if "Ingress" in policy["spec"]["policyTypes"]
            and _selects(policy["spec"]["podSelector"], labels)
            for rule in policy["spec"].get("ingress", [])
        ),
        "from",
        port,
    )


def egress_rules(objects: Objects, labels: dict[str, str]) -> list[dict[str, Any]]:
    return [
        rule
        for policy in _policies(objects)
        if "Egress" in policy["spec"]["policyTypes"]
        and _selects(policy["spec"]["podSelector"], labels)
        for rule in policy["spec"].get("egress", [])
    ]


def network_problems(objects: Objects) -> list[str]:
    problems = []
    policies = _policies(objects)
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    for namespace in namespaces:
        if not [p for p in deny if p["metadata"].get("namespace") == namespace]:
            problems.append(f"namespace {namespace} has no default-deny NetworkPolicy")
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if not rule.get("from"):
                problems.append(f"{policy['metadata']['name']} lets anyone in")
    for workload in workloads(objects):
        for port in workload.ports:
            if not ingress_peers(objects, workload.labels, port):
                problems.append(f"Service {workload.name}:{port} has no policy letting anyone in")
        # A pooler lets in its own service's pods and nothing else (its pods carry their
        # cluster's label too, so a database policy selecting by that label alone opens it).
        if "cnpg.io/poolerName" in workload.labels:
            service = workload.name.removeprefix("care-").removesuffix("-db-pooler")
            peers = ingress_peers(objects, workload.labels, 5432)
            if peers != [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": service}}}]:
                problems.append(f"{workload.name} lets in {peers}")
    return problems


def _pod_peer(peer: dict[str, Any]) -> dict[str, str] | None:
    """The labels an in-namespace pod peer selects (None for other kinds of peer)."""
    if set(peer) == {"podSelector"}:
        return dict(peer["podSelector"].get("matchLabels", {}))
    return None


def _is_public_internet(peer: dict[str, Any]) -> bool:
    block = peer.get("ipBlock")
    if not block:
        return False
    private = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    excepted = [ipaddress.IPv4Network(e) for e in block.get("except", [])]
    return block["cidr"] == "0.0.0.0/0" and all(
        any(p.subnet_of(e) for e in excepted) for p in private
    )


def _namespace_of(peer: dict[str, Any]) -> str | None:
    selector = peer.get("namespaceSelector")
    return None if selector is None else selector["matchLabels"]["kubernetes.io/metadata.name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_service_is_reachable_without_a_policy_allowing_it(overlay: str) -> None:
    assert network_problems(render(f"overlays/{overlay}")) == []


def test_the_network_check_finds_a_missing_deny_and_an_unprotected_service() -> None:
    objects = [
        o
        for o in copy.deepcopy(render("overlays/production"))
        if not (
            o["kind"] == "NetworkPolicy" and o["metadata"]["name"] in {"default-deny", "orders"}
        )
    ]
    # A database policy selecting by cluster name alone also selects that cluster's poolers.
    database = next(
        o
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "care-orders-db"
    )
    database["spec"]["podSelector"]["matchLabels"].pop("cnpg.io/podRole")
    problems = network_problems(tuple(objects))
    assert f"namespace {NAMESPACE} has no default-deny NetworkPolicy" in problems
    assert "Service orders:8002 has no policy letting anyone in" in problems
    assert any(p.startswith("care-orders-db-pooler lets in") for p in problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_reaches_only_its_database_the_broker_and_identity(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    deployments = by_kind(objects, "Deployment")
    for service in SERVICES:
        labels = deployments[service]["spec"]["template"]["metadata"]["labels"]
        settings = _settings_class(service).model_fields
        expected: list[tuple[dict[str, str], int]] = [
            ({"cnpg.io/poolerName": f"care-{service}-db-pooler"}, 5432),
            ({"app.kubernetes.io/name": "care-rabbitmq"}, 5672),
        ]
        if "identity_url" in settings:
            expected.append(({"app.kubernetes.io/name": "identity"}, 8001))
        allowed = [
            (_pod_peer(peer), port["port"])
            for rule in egress_rules(objects, labels)
            for peer in rule["to"]
            for port in rule["ports"]
        ]
        in_namespace = sorted(
            (sorted(peer.items()), port) for peer, port in allowed if peer is not None
        )
        assert in_namespace == sorted((sorted(p.items()), port) for p, port in expected), service
        outside = [
            (peer, rule["ports"])
            for rule in egress_rules(objects, labels)
            for peer in rule["to"]
            if _pod_peer(peer) is None
        ]
        for peer, ports in outside:
            if _namespace_of(peer) == "kube-system":
                assert {p["port"] for p in ports} == {53}, service
            else:
                # Only a service that sends email goes out, to HTTPS on public addresses.
                assert "email" in settings, (service, peer)
                assert _is_public_internet(peer) and [p["port"] for p in ports] == [443]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_reaches_the_routed_services_and_prometheus_every_metrics_port(
    overlay: str,
) -> None:
    objects = render(f"overlays/{overlay}")
    deployments = by_kind(objects, "Deployment")
    routed = {b for r in rules(objects) for b, _ in r.backends}
    for service, port in SERVICES.items():
        labels = deployments[service]["spec"]["template"]["metadata"]["labels"]
        namespaces = {_namespace_of(p) for p in ingress_peers(objects, labels, port)}
        assert "monitoring" in namespaces, service
        assert ("envoy-gateway-system" in namespaces) == (service in routed), service
        others = {
            tuple(sorted((_pod_peer(p) or {}).items()))
            for p in ingress_peers(objects, labels, port)
            if _namespace_of(p) is None
        }
        callers = {(("app.kubernetes.io/name", s),) for s in SERVICES if s != service}
        callers_of_identity = {
            (("app.kubernetes.io/name", s),)
            for s in SERVICES
            if "identity_url" in _settings_class(s).model_fields
        }
        assert others == (callers_of_identity if service == "identity" else set()), service
        assert not (others - callers), service
    (broker,) = by_kind(objects, "RabbitmqCluster")
    keda = {
        _namespace_of(p) for p in ingress_peers(objects, {"app.kubernetes.io/name": broker}, 15672)
    }
    assert "keda" in keda


# --- scaling, pooling, backups, images --------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_consumers_scale_on_their_own_queue_depth_with_cpu_second(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    auths = by_kind(objects, "TriggerAuthentication")
    for service in SERVICES:
        scaler = by_kind(objects, "ScaledObject")[service]["spec"]
        (queue_trigger,) = [t for t in scaler["triggers"] if t["type"] == "rabbitmq"]
        (cpu_trigger,) = [t for t in scaler["triggers"] if t["type"] == "cpu"]
        assert (
            cpu_trigger["metricType"] == "Utilization" and cpu_trigger["metadata"]["value"] == "70"
        )
        meta = queue_trigger["metadata"]
        assert meta["protocol"] == "http" and meta["useRegex"] == "true"
        assert meta["mode"] == "QueueLength" and meta["operation"] == "sum"
        assert int(meta["value"]) > 0
        assert meta["host"].startswith("http://care-rabbitmq.") and "@" not in meta["host"]
        pattern = re.compile(meta["queueName"])
        every_queue = {sub.queue_name: sub.consumer for sub in subscriptions()}
        every_queue |= {sub.dead_letter_queue_name: "dead letters" for sub in subscriptions()}
        picked = {q for q in every_queue if pattern.search(q)}
        assert picked == {s.queue_name for s in subscriptions(service)}, service
        auth = auths[queue_trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
        assert {(a["parameter"], a["name"]) for a in auth} == {
            ("username", "care-rabbitmq-default-user"),
            ("password", "care-rabbitmq-default-user"),
        }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_database_is_pooled_in_transaction_mode_with_prepared_statements_tracked(
    overlay: str,
) -> None:
    objects = render(f"overlays/{overlay}")
    poolers = by_kind(objects, "Pooler")
    assert {p["spec"]["cluster"]["name"] for p in poolers.values()} == set(
        by_kind(objects, "Cluster")
    )
    for name, pooler in poolers.items():
        bouncer = pooler["spec"]["pgbouncer"]
        assert bouncer["poolMode"] == "transaction", name
        # asyncpg names its prepared statements: PgBouncer must track them (1.21+).
        assert int(bouncer["parameters"]["max_prepared_statements"]) >= 100, name
        assert pooler["spec"]["instances"] >= 2, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_database_is_backed_up_to_its_environments_object_store(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    scheduled = {
        b["spec"]["cluster"]["name"]: b["spec"]
        for b in by_kind(objects, "ScheduledBackup").values()
    }
    for name, cluster in by_kind(objects, "Cluster").items():
        backup = cluster["spec"]["backup"]
        store = backup["barmanObjectStore"]
        assert store["destinationPath"] == f"s3://care-badges-backups/{overlay}", name
        assert store["wal"]["compression"] and backup["retentionPolicy"]
        assert scheduled[name]["method"] == "barmanObjectStore"
        assert scheduled[name]["backupOwnerReference"] == "self"
    operations = (ROOT / "docs" / "operations.md").read_text()
    restore = operations[operations.index("## Back up and restore a database") :]
    for step in ("recovery:", "targetTime", "externalClusters", "barmanObjectStore"):
        assert step in restore, step


def _images(node: Any, path: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("image", "imageName") and isinstance(value, str):
                yield f"{path}.{key}", value
            else:
                yield from _images(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _images(value, f"{path}[{i}]")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_pinned_by_digest_and_the_broker_spread_over_nodes(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    images = [
        (f"{o['kind']}/{o['metadata']['name']}{path}", image)
        for o in objects
        for path, image in _images(o.get("spec", {}))
    ]
    assert len(images) >= 5 + 5 + 5 + 1  # services, databases, poolers, broker
    for where, image in images:
        assert re.fullmatch(r"[^@:\s]+(?::[^@\s]+)?@sha256:[0-9a-f]{64}", image), where
    (broker,) = by_kind(objects, "RabbitmqCluster").values()
    anti = broker["spec"]["affinity"]["podAntiAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in anti
    (term,) = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "care-rabbitmq"}


def test_the_custom_resource_schemas_reject_what_their_crds_reject() -> None:
    """The hand-written subsets keep the upstream CRDs' required fields and types."""
    from tests.deploy.test_compose_and_k8s import validate_object

    pytest.importorskip("kubernetes_validate")
    objects = render("overlays/production")

    def broken(kind: str, name: str, spoil: Any) -> list[str]:
        obj = copy.deepcopy(by_kind(objects, kind)[name])
        spoil(obj["spec"])
        return validate_object(obj)

    for kind, name in (
        ("HTTPRoute", "public-site"),
        ("Gateway", "care-badges"),
        ("Pooler", "care-orders-db-pooler"),
        ("ScheduledBackup", "care-orders-db-nightly"),
        ("ScaledObject", "orders"),
        ("TriggerAuthentication", "care-rabbitmq-management"),
        ("PodMonitor", "care-postgres"),
        ("Alertmanager", "care-badges"),
    ):
        assert broken(kind, name, lambda spec: None) == [], (kind, name)
    # A PodMonitor without its selector, a relabelling with an unknown action, an
    # Alertmanager whose retention is in days (it takes hours at most).
    assert broken("PodMonitor", "care-postgres", lambda s: s.pop("selector"))
    assert broken(
        "PodMonitor",
        "care-postgres",
        lambda s: s["podMetricsEndpoints"][0]["metricRelabelings"][0].update(action="rename"),
    )
    assert broken("Alertmanager", "care-badges", lambda s: s.update(retention="5d"))
    # A backend without its port, a listener without its protocol, an unknown pool mode,
    # a five-field cron, a trigger value that is not a string, a secret ref without its key.
    assert broken("HTTPRoute", "public-site", lambda s: s["rules"][0]["backendRefs"][0].pop("port"))
    assert broken("Gateway", "care-badges", lambda s: s["listeners"][1].pop("protocol"))
    assert broken(
        "Pooler", "care-orders-db-pooler", lambda s: s["pgbouncer"].update(poolMode="statement")
    )
    assert broken(
        "ScheduledBackup", "care-orders-db-nightly", lambda s: s.update(schedule="0 2 * * *")
    )
    assert broken(
        "ScaledObject", "orders", lambda s: s["triggers"][0]["metadata"].update(value=200)
    )
    assert broken(
        "TriggerAuthentication",
        "care-rabbitmq-management",
        lambda s: s["secretTargetRef"][0].pop("key"),
    )
    assert broken("Pooler", "care-orders-db-pooler", lambda s: s.pop("cluster"))
