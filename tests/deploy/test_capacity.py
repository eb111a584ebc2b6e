"""Scaled out to its autoscalers' limits, each service still fits its database and broker.

Launch day scales every Deployment towards its KEDA ScaledObject's maximum. Each pod opens
up to twice its pool size of connections (shared/store/db.py), to its database's PgBouncer
Pooler rather than to PostgreSQL. One pooler pod must accept every client while its twin is
down or being replaced, and the poolers together (one more during a rolling update) must
open fewer backends than the CloudNativePG cluster accepts; otherwise the last pods to start
fail their readiness exactly when they are needed. Quorum queues need an odd number of
broker nodes, at least three, to keep a majority through one node's loss.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.settings import ServiceSettings
from tests.deploy.test_compose_and_k8s import OVERLAYS, SERVICES, by_kind, render

#: Connections kept free for the operator, migrations and an operator's psql.
HEADROOM = 10


def _pool_size(deployment: dict[str, Any], service: str) -> int:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    configured = env.get(f"CARE_{service.upper()}_DB_POOL_SIZE")
    return int(configured) if configured else ServiceSettings().db_pool_size


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_at_its_autoscaling_maximum_fits_its_pooler_and_database(
    overlay: str,
) -> None:
    objects = render(f"overlays/{overlay}")
    deployments = by_kind(objects, "Deployment")
    scalers = by_kind(objects, "ScaledObject")
    clusters = by_kind(objects, "Cluster")
    poolers = by_kind(objects, "Pooler")
    for service in SERVICES:
        pooler = poolers[f"care-{service}-db-pooler"]["spec"]
        assert pooler["cluster"]["name"] == f"care-{service}-db"
        assert pooler["type"] == "rw"
        params = {k: int(v) for k, v in pooler["pgbouncer"]["parameters"].items()}

        most_pods = scalers[service]["spec"]["maxReplicaCount"]
        clients = most_pods * 2 * _pool_size(deployments[service], service)
        assert clients <= params["max_client_conn"], (
            f"{overlay}: {most_pods} {service} pods open {clients} connections, one "
            f"PgBouncer pod accepts {params['max_client_conn']}"
        )

        per_pooler = params["max_user_connections"]
        assert params["default_pool_size"] + params["reserve_pool_size"] <= per_pooler
        backends = (pooler["instances"] + 1) * per_pooler + HEADROOM
        parameters = clusters[f"care-{service}-db"]["spec"]["postgresql"]["parameters"]
        allowed = int(parameters["max_connections"])
        assert backends <= allowed, (
            f"{overlay}: care-{service}-db-pooler may open {backends} backends with headroom "
            f"during a rollout, care-{service}-db allows {allowed}"
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_node_can_be_drained_and_the_broker_keeps_a_majority(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    deployments = by_kind(objects, "Deployment")
    pdbs = by_kind(objects, "PodDisruptionBudget")
    for service in SERVICES:
        replicas = deployments[service]["spec"]["replicas"]
        assert pdbs[service]["spec"]["minAvailable"] < replicas, (
            f"{overlay}: the {service} budget would block every voluntary eviction"
        )
    (broker,) = by_kind(objects, "RabbitmqCluster").values()
    nodes = broker["spec"].get("replicas", 1)
    assert nodes >= 3 and nodes % 2 == 1, f"{overlay}: {nodes} broker nodes"
