#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine as root: installs what it needs and runs `tollgate lab`
# (ZooKeeper, three agents, VMs and an internet host in network namespaces, real traffic).
# The internet is BIRD, an upstream BGP router the gateways peer with; `--static`: static routes instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
need=()
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
for tool in ping:iputils-ping curl:curl ip:iproute2 g++:g++ make:make python3:python3; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [[ " $* " != *" --static "* ]]; then
  # BIRD as the upstream router; gobgpd and its .proto files for the gateways' BGP role.
  [ -x /usr/sbin/bird ] || need+=(bird2)
  [ -x /usr/bin/gobgpd ] || need+=(gobgpd)
  [ -f /usr/share/gocode/src/github.com/osrg/gobgp/api/gobgp.proto ] || need+=(golang-github-osrg-gobgp-dev)
  command -v nft >/dev/null || need+=(nftables)
fi
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ ! -f build/Release/tollgate_af_packet.node ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec npx tsx src/gateway/cli.ts lab "$@"
