#!/bin/sh
# Installs the peer for bench/peers: Celery and the Redis client from Debian's
# packages, for the Debian python (/usr/bin/python3, not a pyenv or venv one).
# Idempotent: does nothing when both import. Needs root (or sudo) for apt-get.
set -eu
PY=/usr/bin/python3
if [ ! -x "$PY" ]; then
  echo "bench/peers/setup.sh: $PY is missing (the peers need Debian's python3)" >&2
  exit 1
fi
if "$PY" -c 'import celery, redis' 2>/dev/null; then
  "$PY" -c 'import celery, redis; print("peers: celery", celery.__version__, "redis-py", redis.__version__)'
  exit 0
fi
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
echo "peers: installing python3-celery python3-redis (apt-get)" >&2
$SUDO apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-celery python3-redis >&2
"$PY" -c 'import celery, redis; print("peers: celery", celery.__version__, "redis-py", redis.__version__)'
