#!/usr/bin/env bash
# Credence over MPI between two "machines" on this one: two Linux network namespaces (h1,
# h2), each with its own network stack, joined through the host by veth pairs and routing —
# the ranks talk TCP between different IP addresses as on two nodes; Open MPI starts its
# daemons in them through an rsh agent that enters the namespace (instead of ssh). Files
# are shared (one disk), as on a cluster with a shared file system. Needs root (ip netns).
#
#   bash scripts/mpi-two-hosts.sh [OUTDIR]     # default credence-results/two-hosts; ~3 min after the build
#
# Checks, each against one process with one thread per rank:
#  1. `credence attack` with EOT, batches dealt over the two hosts: the same result.
#  2. a distributed bench (rank 0 on h1 coordinates and runs, rank 1 on h2): the same rows.
#  3. the same bench with the worker on h2 SIGKILLed mid-suite under
#     `--mca orte_enable_recovery 1`: given up, its run finished by h1, every row stored.
#  4. data-parallel training over the hosts: the network of 1 process × 2 threads, bit for bit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" -eq 0 ] || { echo "mpi-two-hosts.sh: needs root (network namespaces)" >&2; exit 1; }
OUT="${1:-credence-results/two-hosts}"
rm -rf "$OUT"; mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
swift build --product credence >&2
C="$(pwd)/.build/debug/credence"

cleanup() { for i in 1 2; do ip netns delete "credence-h$i" 2>/dev/null || true; ip link delete "credence-v$i" 2>/dev/null || true; done; }
trap cleanup EXIT
cleanup
for i in 1 2; do
  ip netns add "credence-h$i"
  ip link add "credence-v$i" type veth peer name eth0 netns "credence-h$i"
  ip addr add "10.77.$i.1/24" dev "credence-v$i"
  ip link set "credence-v$i" up
  ip netns exec "credence-h$i" ip addr add "10.77.$i.2/24" dev eth0
  ip netns exec "credence-h$i" ip link set eth0 up
  ip netns exec "credence-h$i" ip link set lo up
  ip netns exec "credence-h$i" ip route add default via "10.77.$i.1"
done
sysctl -qw net.ipv4.ip_forward=1
cat > "$OUT/agent.sh" <<'AGENT'
#!/bin/sh
# Open MPI's rsh agent: host 10.77.N.2 is the network namespace credence-hN.
host="$1"; shift
while [ "${host#-}" != "$host" ]; do host="$1"; shift; done
exec ip netns exec "credence-h$(echo "$host" | cut -d. -f3)" /bin/sh -c "$*"
AGENT
chmod +x "$OUT/agent.sh"
printf '10.77.1.2 slots=1\n10.77.2.2 slots=1\n' > "$OUT/hosts"
MPI=(mpirun --allow-run-as-root --oversubscribe --hostfile "$OUT/hosts" --mca plm_rsh_agent "$OUT/agent.sh"
     --mca btl self,tcp --mca oob_tcp_if_include 10.77.0.0/16 --mca btl_tcp_if_include 10.77.0.0/16 -x CREDENCE_THREADS=1
     --mca rtc ^hwloc)  # its shared-memory topology once segfaulted an orted started in a namespace
"${MPI[@]}" -np 2 sh -c 'echo "rank $OMPI_COMM_WORLD_RANK on $(ip -o -4 addr show eth0 | awk "{print \$4}")"' | sort | tee "$OUT/placement.txt"

same_json() { python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for r in (a, b):
    r.pop("seconds", None)
print("identical" if a == b else "DIFFERENT")
PY
}
rows() { python3 - "$1" <<'PY'
import json, sqlite3, sys
def strip(r):
    r = json.loads(r); r.pop("finishedAt", None); r.pop("seconds", None)
    m = r.get("metrics", {}); m.pop("scalability", None)
    return json.dumps(r, sort_keys=True)
print(json.dumps(sorted((k, strip(r)) for k, r in sqlite3.connect(sys.argv[1]).execute("SELECT key, record FROM runs"))))
PY
}

echo "1. attack over two hosts" >&2
CREDENCE_THREADS=1 "$C" train --dataset two-moons --hidden 16 --epochs 30 --method vi --out "$OUT/vi.safetensors" > /dev/null 2>&1
ATTACK=(attack --posterior "$OUT/vi.safetensors" --eps 0,0.3 --examples 200 --batch-size 25 --eot-samples 2 --samples 8 --format json)
CREDENCE_THREADS=1 "$C" "${ATTACK[@]}" > "$OUT/attack-one.json" 2> /dev/null
"${MPI[@]}" -np 2 "$C" "${ATTACK[@]}" > "$OUT/attack-hosts.json" 2> "$OUT/attack-hosts.log"
echo "attack: $(same_json "$OUT/attack-one.json" "$OUT/attack-hosts.json")" | tee "$OUT/result.txt"

cat > "$OUT/suite.json" <<'JSON'
{"name": "two-hosts", "datasets": ["two-moons", "spirals"], "models": [{"kind": "mlp", "hidden": [32, 32]}],
 "methods": [{"name": "map"}, {"name": "mc-dropout", "dropout": 0.1, "samples": 8}, {"name": "swag", "swagEpochs": 2, "rank": 5}],
 "seeds": [0, 1], "epochs": 60, "evaluations": ["in-distribution", "ood"], "ood": ["far"]}
JSON
echo "2. bench over two hosts" >&2
CREDENCE_THREADS=1 "$C" bench "$OUT/suite.json" --db "$OUT/one.sqlite" --no-report > /dev/null 2>&1
"${MPI[@]}" -np 2 "$C" bench "$OUT/suite.json" --db "$OUT/hosts.sqlite" --no-report > "$OUT/bench-hosts.log" 2>&1
[ "$(rows "$OUT/one.sqlite")" = "$(rows "$OUT/hosts.sqlite")" ] && echo "bench: identical rows" | tee -a "$OUT/result.txt" \
  || echo "bench: DIFFERENT rows" | tee -a "$OUT/result.txt"

echo "3. bench with the worker on h2 killed" >&2
"${MPI[@]}" --mca orte_enable_recovery 1 -np 2 "$C" bench "$OUT/suite.json" --db "$OUT/killed.sqlite" --no-report \
  --worker-timeout 10 > "$OUT/bench-killed.log" 2>&1 &
JOB=$!
for _ in $(seq 1 600); do   # wait until two runs are stored, then kill the credence of h2
  n=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM runs').fetchone()[0])" "$OUT/killed.sqlite" 2>/dev/null || echo 0)
  [ "$n" -ge 2 ] && break
  sleep 0.2
done
VICTIM=$(ip netns pids credence-h2 | while read -r p; do [ "$(cat /proc/$p/comm 2>/dev/null)" = credence ] && echo "$p"; done | head -1)
[ -n "$VICTIM" ] && kill -9 "$VICTIM" && echo "killed pid $VICTIM (the worker on h2)" >&2
wait "$JOB" && status=0 || status=$?
[ "$(rows "$OUT/one.sqlite")" = "$(rows "$OUT/killed.sqlite")" ] && echo "bench with h2's worker killed: identical rows (mpirun exit $status)" | tee -a "$OUT/result.txt" \
  || echo "bench with h2's worker killed: DIFFERENT rows (mpirun exit $status)" | tee -a "$OUT/result.txt"

echo "4. data-parallel training over two hosts" >&2
TRAIN=(train --dataset spirals --hidden 64,64 --epochs 20 --batch-size 64 --dropout 0.1)
CREDENCE_THREADS=2 "$C" "${TRAIN[@]}" --out "$OUT/dp-threads.safetensors" > /dev/null 2>&1
"${MPI[@]}" -np 2 "$C" "${TRAIN[@]}" --out "$OUT/dp-hosts.safetensors" > "$OUT/dp-hosts.log" 2>&1
python3 - "$OUT/dp-threads.safetensors" "$OUT/dp-hosts.safetensors" <<'PY' | tee -a "$OUT/result.txt"
import json, struct, sys
def tensors(path):
    data = open(path, "rb").read(); n = struct.unpack("<Q", data[:8])[0]; header = json.loads(data[8:8 + n])
    return {k: data[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
print("data-parallel: " + ("bit for bit the 2-thread network" if a == b else "DIFFERENT from the 2-thread network"))
PY
cat "$OUT/result.txt"
