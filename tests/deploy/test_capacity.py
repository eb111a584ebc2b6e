"""Scaled out to its autoscalers' limits, each service still fits its database and broker.

Launch day scales every Deployment towards its HorizontalPodAutoscaler's maximum. Each pod
opens up to twice its pool size of PostgreSQL connections (shared/store/db.py); if the
replicas at the maximum would need more than the CloudNativePG cluster accepts, the last
pods to start fail their readiness exactly when they are needed. Quorum queues need an odd
number of broker nodes, at least three, to keep a majority through one node's loss.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.settings import ServiceSettings
from tests.deploy.test_compose_and_k8s import OVERLAYS, SERVICES, by_kind, render

#: Connections kept free for migrations, an operator's psql and CloudNativePG's own.
HEADROOM = 10


def _pool_size(deployment: dict[str, Any], service: str) -> int:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    configured = env.get(f"CARE_{service.upper()}_DB_POOL_SIZE")
    return int(configured) if configured else ServiceSettings().db_pool_size


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_at_its_autoscaling_maximum_fits_its_database(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    deployments = by_kind(objects, "Deployment")
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    clusters = by_kind(objects, "Cluster")
    for service in SERVICES:
        most_pods = hpas[service]["spec"]["maxReplicas"]
        needed = most_pods * 2 * _pool_size(deployments[service], service) + HEADROOM
        parameters = clusters[f"care-{service}-db"]["spec"]["postgresql"]["parameters"]
        allowed = int(parameters["max_connections"])
        assert needed <= allowed, (
            f"{overlay}: {most_pods} {service} pods need {needed} connections, "
            f"care-{service}-db allows {allowed}"
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
