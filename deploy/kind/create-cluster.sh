#!/usr/bin/env bash
# Create the workshop's kind cluster and wire it to the compose platform.
#
# Steps, each skipped when already done: create the kind cluster from
# deploy/kind/cluster.yaml, build the workbench image and load it into the
# nodes, create the Docker network that docker-compose.yml joins and
# connect the control-plane node to it, and write the kubeconfigs:
#   var/kind/kubeconfig       for the platform's containers (node's name)
#   var/kind/host.kubeconfig  for kubectl on this host
#
# Settings come from .env in the repository root when it exists (see
# deploy/compose.env.example), else from the environment:
#   KIND_CLUSTER_NAME            cluster name (default: labs)
#   LABPLATFORM_CLUSTER_NETWORK  Docker network (default: labplatform-cluster)
#   LABPLATFORM_WORKBENCH_IMAGE  workbench image tag
#                                (default: labplatform/workbench:0.1.0)
set -euo pipefail

script="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
repo=$(cd "$(dirname "$script")/../.." && pwd)
cd "$repo"

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,/^set -euo/p' "$script" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit 0
fi
if [ $# -gt 0 ]; then
  echo "create-cluster.sh takes no arguments (got: $*); see --help." >&2
  exit 2
fi

if [ -f .env ]; then
  # .env contains KEY=value lines, as docker compose reads them.
  set -a
  # shellcheck disable=SC1091
  . ./.env
  set +a
fi
cluster=${KIND_CLUSTER_NAME:-labs}
network=${LABPLATFORM_CLUSTER_NETWORK:-labplatform-cluster}
workbench_image=${LABPLATFORM_WORKBENCH_IMAGE:-labplatform/workbench:0.1.0}
state=var/kind

for tool in kind docker kubectl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "create-cluster.sh: $tool is not installed; see docs/workshop-runbook.md." >&2
    exit 1
  fi
done
if ! docker info >/dev/null 2>&1; then
  echo "create-cluster.sh: the Docker engine does not respond; start it or add" \
    "this user to the docker group." >&2
  exit 1
fi

# The audit log must exist before the API server starts: kube-apiserver
# keeps the mode of an existing file (0644 here), while a file it creates
# itself is readable by root only, and the platform's containers run as
# UID 65532.
mkdir -p "$state/audit"
chmod 0700 "$state"
chmod 0755 "$state/audit"
touch "$state/audit/audit.log"
chmod 0644 "$state/audit/audit.log"

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "kind cluster $cluster exists."
else
  echo "Creating kind cluster $cluster..."
  kind create cluster --name "$cluster" --config deploy/kind/cluster.yaml --wait 180s
fi

if [ -f deploy/workbench/Dockerfile ]; then
  echo "Building the workbench image $workbench_image..."
  docker build --tag "$workbench_image" deploy/workbench
  kind load docker-image "$workbench_image" --name "$cluster"
else
  echo "deploy/workbench/Dockerfile not found; skipping the workbench image." >&2
fi

if ! docker network inspect "$network" >/dev/null 2>&1; then
  docker network create "$network" >/dev/null
  echo "Created Docker network $network."
fi
node="$cluster-control-plane"
if docker inspect --format '{{json .NetworkSettings.Networks}}' "$node" \
    | grep -q "\"$network\""; then
  echo "$node is on network $network."
else
  docker network connect "$network" "$node"
  echo "Connected $node to network $network."
fi

# The platform's containers reach the API server by the node's container
# name on the shared network. The file is readable by UID 65532 through the
# bind mount, while var/kind (mode 0700) keeps other host users out.
kind get kubeconfig --internal --name "$cluster" >"$state/kubeconfig.partial"
chmod 0644 "$state/kubeconfig.partial"
mv "$state/kubeconfig.partial" "$state/kubeconfig"
kind get kubeconfig --name "$cluster" >"$state/host.kubeconfig"
chmod 0600 "$state/host.kubeconfig"

echo
echo "Cluster $cluster is ready:"
kubectl --kubeconfig "$state/host.kubeconfig" get nodes
echo
echo "Next: docker compose up -d --build"
echo "Then: docker compose exec web /venv/bin/python3 manage.py doctor"
