#!/usr/bin/env bash
# Runs Tollgate's whole test suite on a fresh Debian 12 machine as root: installs what it needs
# (Node packages now; ZooKeeper, gobgpd, BIRD as the suites that use them arrive), runs jest,
# and ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

need_node() {
  if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  fi
}
need_node
# The store's integration tests start their own ZooKeeper from Debian's package (STACK-NOTES).
if [ ! -f /usr/share/java/zookeeper.jar ]; then
  { apt-get update -qq && apt-get install -y -qq zookeeper >/dev/null; } || echo "warning: could not install zookeeper"
fi
# The BGP suites run Debian's gobgpd (protos from golang-github-osrg-gobgp-dev) against BIRD 2.
bgp_need=()
command -v gobgpd >/dev/null || bgp_need+=(gobgpd)
command -v bird >/dev/null || bgp_need+=(bird2)
[ -f /usr/share/gocode/src/github.com/osrg/gobgp/api/gobgp.proto ] || bgp_need+=(golang-github-osrg-gobgp-dev)
command -v setpriv >/dev/null || bgp_need+=(util-linux)
command -v nft >/dev/null || bgp_need+=(nftables)
if [ ${#bgp_need[@]} -gt 0 ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${bgp_need[@]}" >/dev/null; } || echo "warning: could not install ${bgp_need[*]}"
fi
# The e2e suites drive real tools through the namespaces (ping, curl; tcpdump helps when one fails).
for tool in ping:iputils-ping curl:curl ip:iproute2; do
  command -v "${tool%%:*}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${tool##*:}" >/dev/null; } || echo "warning: could not install ${tool##*:}"
done
# npm ci builds the AF_PACKET addon (binding.gyp) with node-gyp: a C++ compiler, make, python3.
if ! command -v g++ >/dev/null || ! command -v make >/dev/null || ! command -v python3 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq g++ make python3 >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ ! -f build/Release/tollgate_af_packet.node ]; then
  npm ci --no-audit --no-fund --loglevel=error || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi

results=$(mktemp /tmp/tollgate-jest-XXXXXX.json)
trap 'rm -f "$results"' EXIT
# Suites that create namespaces or servers run serially (DEVELOPERS brief): --runInBand for all
# of them keeps the order simple on 2 cores; unit suites are fast either way.
NODE_OPTIONS=--experimental-vm-modules npx jest --ci --runInBand --json --outputFile="$results" "$@"
status=$?
if [ -s "$results" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const failedSuites = r.testResults.filter((s) => s.status === "failed" && s.assertionResults.length === 0).length;
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests + failedSuites} failed`);
  ' "$results"
else
  echo "0 passed, 1 failed"
  [ $status -eq 0 ] && status=1
fi
exit $status
