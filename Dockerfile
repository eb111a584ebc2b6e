# One image for all five services; the command picks the service, e.g.
#   docker run care-badges uvicorn services.orders.app:app --host 0.0.0.0 --port 8002
# or, with the default command, CARE_SERVICE=orders CARE_HTTP_PORT=8002.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# A fixed, unprivileged uid/gid so Kubernetes can check runAsNonRoot without a name lookup.
RUN groupadd --system --gid 10001 care \
    && useradd --system --uid 10001 --gid care --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin care

# Dependencies first: this layer is rebuilt only when the lock changes. requirements.lock names
# every package the services need, transitive ones included, at an exact version with its
# hashes (scripts/lock.sh makes it from requirements.txt); --require-hashes refuses anything
# else, so the image holds exactly the reviewed files.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

COPY shared/ ./shared/
COPY services/ ./services/

USER 10001:10001

EXPOSE 8001 8002 8003 8004 8005

# Default command: the service named by CARE_SERVICE on CARE_HTTP_PORT. Compose and the
# Kubernetes manifests give the full uvicorn command instead.
CMD ["sh", "-c", "exec uvicorn \"services.${CARE_SERVICE:?set CARE_SERVICE to identity, orders, verification, dispatch or reporting}.app:app\" --host 0.0.0.0 --port \"${CARE_HTTP_PORT:-8000}\""]
