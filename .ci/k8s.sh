#!/usr/bin/env bash
# .ci/k8s.sh up|down|status: a real single-node Kubernetes cluster (etcd,
# kube-apiserver, controller-manager, scheduler, containerd, kubelet) for
# the kubernetes backend's tests, on a Debian machine without internet,
# following the tested recipe in ../shared/notes/local-k8s/README.md.
#
#   up     installs the Debian packages, builds the Kubernetes binaries from
#          the k8s.io/kubernetes Go module once (cached by version under
#          $CROSSIN_K8S_CACHE, default /var/cache/crossin-k8s; ~9 min cold on
#          2 cores, under nice), starts the cluster in $CROSSIN_K8S_STATE
#          (default /tmp/crossin-k8s) and writes .ci/k8s.env. Idempotent: a
#          cluster already up is only checked and the env file rewritten.
#   build  only installs the packages and builds (what `up` does first);
#   packages only installs the packages; binaries only builds (Go alone,
#   no packages: .ci/run starts it first, in the background).
#   down   stops every process it started (by PID), removes pods, mounts,
#          cgroups and the bridge, and .ci/k8s.env.
#
# .ci/k8s.env (sourced by .ci/run; the tests read it):
#   CROSSIN_TEST_K8S=1                       the cluster answers
#   CROSSIN_TEST_K8S_KUBECONFIG=...          admin kubeconfig
#   CROSSIN_TEST_K8S_REGISTRY=127.0.0.1:5001 plain-HTTP registry the node pulls from
set -euo pipefail

V=v1.37.2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
ENVF=$HERE/k8s.env
C=${CROSSIN_K8S_CACHE:-/var/cache/crossin-k8s}/$V
K=${CROSSIN_K8S_STATE:-/tmp/crossin-k8s}
B=$C/bin
P=$K/pki
L=$K/logs
R=$K/run
REG=127.0.0.1:5001
PAUSE=$REG/pause:3.10
NODE=${NODE:-$(hostname | tr '[:upper:]' '[:lower:]')} # node names are lower-case
export PATH="/usr/local/go/bin:$PATH"

log() { echo "k8s.sh: $*" >&2; }
now() { date +%s.%N; }
el() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
bg() { local name=$1; shift; setsid nohup "$@" >"$L/$name.log" 2>&1 & echo $! >"$R/$name.pid"; }
waitfor() { # name tries(0.1s) cmd...
	local n=$1 t=$2; shift 2
	for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	log "timeout waiting for $n (logs in $L)"; return 1
}
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${st:0:1}" != Z ]; } # zombies count as dead
kc() { "$B/kubectl" --kubeconfig "$P/admin.kubeconfig" "$@"; }
node_ip() { ip -4 route get 1.1.1.1 2>/dev/null | awk '{for(i=1;i<=NF;i++) if($i=="src") print $(i+1)}'; }

packages() {
	local need=()
	command -v etcd >/dev/null || need+=(etcd-server)
	command -v containerd >/dev/null || need+=(containerd)
	command -v runc >/dev/null || need+=(runc)
	command -v docker-registry >/dev/null || need+=(docker-registry)
	command -v conntrack >/dev/null || need+=(conntrack)
	command -v socat >/dev/null || need+=(socat)
	command -v iptables >/dev/null || need+=(iptables)
	command -v openssl >/dev/null || need+=(openssl)
	command -v curl >/dev/null || need+=(curl)
	command -v ip >/dev/null || need+=(iproute2)
	command -v pgrep >/dev/null || need+=(procps)
	command -v ethtool >/dev/null || need+=(ethtool)
	command -v ebtables >/dev/null || need+=(ebtables)
	[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
	if [ "${#need[@]}" -gt 0 ]; then
		log "installing ${need[*]}"
		export DEBIAN_FRONTEND=noninteractive
		if [ ! -e /usr/sbin/policy-rc.d ]; then # no daemons started by postinst
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
		fi
		apt-get -o DPkg::Lock::Timeout=600 update -qq
		apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	fi
}

# build compiles the Kubernetes binaries once per version into $C/bin (the
# four server binaries and kubectl, static, -trimpath), niced: the machine
# is shared. A partial build never lands in $C/bin.
build() {
	local bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl) b ok=1
	for b in "${bins[@]}"; do [ -x "$B/$b" ] || ok=0; done
	if [ "$ok" = 0 ]; then
		local t0 src=$C/src mods=()
		t0=$(now)
		mkdir -p "$src"
		# k8s.io/kubernetes requires its staging modules at v0.0.0 and
		# replaces them with ./staging; a consumer replaces them with the
		# published versions (the list is the replace block of its go.mod).
		for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider \
			cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api \
			cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt \
			kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics \
			mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming; do
			mods+=("	k8s.io/$m => k8s.io/$m v0${V#v1}")
		done
		{
			printf 'module crossink8sbuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$V"
			printf '%s\n' "${mods[@]}"
			printf ')\n'
		} >"$src/go.mod"
		local ld="-s -w -X k8s.io/component-base/version.gitVersion=$V -X k8s.io/component-base/version.gitMajor=1"
		ld+=" -X k8s.io/component-base/version.gitMinor=$(echo "$V" | cut -d. -f2) -X k8s.io/client-go/pkg/version.gitVersion=$V"
		ld+=" -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z"
		log "building Kubernetes $V into $B (cold: about 9 minutes on 2 cores)"
		rm -rf "$C/bin.tmp" && mkdir -p "$C/bin.tmp"
		(cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 19 go build -trimpath -ldflags "$ld" -o "$C/bin.tmp/" \
			$(printf 'k8s.io/kubernetes/cmd/%s ' "${bins[@]}"))
		rm -rf "$B" && mv "$C/bin.tmp" "$B"
		log "Kubernetes built in $(el "$t0")s"
	fi
	if [ ! -x "$C/tools/pause" ] || [ ! -x "$C/tools/mkimage" ]; then
		mkdir -p "$C/tools"
		(cd "$ROOT" && CGO_ENABLED=0 nice -n 19 go build -trimpath -o "$C/tools/pause" .ci/k8s/pause.go &&
			nice -n 19 go build -trimpath -o "$C/tools/mkimage" .ci/k8s/mkimage.go)
	fi
}

certs() {
	[ -s "$P/admin.kubeconfig" ] && [ "$(cat "$P/node" 2>/dev/null)" = "$NODE $IP" ] && return 0
	rm -rf "$P" && mkdir -p "$P"
	(
		cd "$P"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=crossin-ci-ca" 2>/dev/null
		sign() { # name subject [sans]
			openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
			if [ -n "${3:-}" ]; then printf "subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" "$3" >"$1.ext"
			else printf "extendedKeyUsage=clientAuth\n" >"$1.ext"; fi
			openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$1.ext" 2>/dev/null
		}
		sign apiserver "/CN=kube-apiserver" "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:10.96.0.1,IP:$IP"
		sign admin "/O=system:masters/CN=kubernetes-admin"
		sign node "/O=system:nodes/CN=system:node:$NODE"
		sign kubelet-serving "/CN=$NODE" "DNS:$NODE,DNS:localhost,IP:127.0.0.1,IP:$IP"
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		for u in admin node; do
			cat >"$u.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: crossin-ci, cluster: {server: "https://127.0.0.1:6443", certificate-authority: $P/ca.crt}}]
users: [{name: $u, user: {client-certificate: $P/$u.crt, client-key: $P/$u.key}}]
contexts: [{name: crossin-ci, context: {cluster: crossin-ci, user: $u}}]
current-context: crossin-ci
KC
		done
	)
	echo "$NODE $IP" >"$P/node"
}

configs() {
	mkdir -p "$K/etc/containerd/certs.d" "$K/etc/cni/net.d"
	for r in 127.0.0.1:5001 127.0.0.1:5000 localhost:5000; do
		mkdir -p "$K/etc/containerd/certs.d/$r"
		printf 'server = "http://%s"\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "$r" "$r" >"$K/etc/containerd/certs.d/$r/hosts.toml"
	done
	cat >"$K/etc/containerd/config.toml" <<EOF
version = 2
root = "$K/var/containerd"
state = "$K/run/containerd"
[grpc]
  address = "$K/run/containerd/containerd.sock"
[ttrpc]
  address = "$K/run/containerd/containerd.sock.ttrpc"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$K/var/containerd/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE"
    netns_mounts_under_state_dir = true
    restrict_oom_score_adj = true # no CAP_SYS_RESOURCE on CI VMs (runc cannot set -998)
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$K/etc/cni/net.d"
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "$K/etc/containerd/certs.d"
EOF
	# a default route through the bridge, so pods reach registries on the
	# node's address (the no-shared-filesystem mode); no ipMasq: pods need
	# nothing beyond the node, and a masquerade rule per
	# pod would outlive a pod that is not torn down through CNI
	cat >"$K/etc/cni/net.d/10-crossin.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "crossin-ci", "plugins": [
  {"type": "bridge", "bridge": "crossinbr0", "isGateway": true, "isDefaultGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$K/var/cni/networks", "ranges": [[{"subnet": "10.245.0.0/24"}]]}},
  {"type": "loopback"}]}
EOF
	cat >"$K/etc/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$K/run/containerd/containerd.sock
podLogsDir: $K/var/log/pods
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $P/ca.crt}}
authorization: {mode: Webhook}
tlsCertFile: $P/kubelet-serving.crt
tlsPrivateKeyFile: $P/kubelet-serving.key
clusterDomain: cluster.local
clusterDNS: [10.96.0.10]
failSwapOn: false
makeIPTablesUtilChains: false
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
nodeStatusReportFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 10s
EOF
	cat >"$K/etc/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $K/var/registry}, delete: {enabled: true}}
http: {addr: $REG}
EOF
}

healthy() {
	curl -sf --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" https://127.0.0.1:6443/readyz >/dev/null 2>&1 &&
		kc get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True
}

writeenv() {
	cat >"$ENVF.tmp" <<EOF
# written by .ci/k8s.sh up; sourced by .ci/run
export CROSSIN_TEST_K8S=1
export CROSSIN_TEST_K8S_KUBECONFIG=$P/admin.kubeconfig
export CROSSIN_TEST_K8S_REGISTRY=$REG
EOF
	mv "$ENVF.tmp" "$ENVF"
}

up() {
	local t0
	t0=$(now)
	packages
	build
	IP=$(node_ip)
	[ -n "$IP" ] || IP=127.0.0.1
	mkdir -p "$L" "$R" "$K"/var/{etcd,kubelet,registry,cni/networks,log/pods} "$K/run/containerd"
	if [ -s "$P/admin.kubeconfig" ] && healthy; then
		writeenv
		log "cluster already up (state $K)"
		return 0
	fi
	certs
	configs
	[ -s "$R/ip_forward" ] || cat /proc/sys/net/ipv4/ip_forward >"$R/ip_forward"
	sysctl -qw net.ipv4.ip_forward=1
	curl -sf "http://$REG/v2/" >/dev/null 2>&1 || bg registry docker-registry serve "$K/etc/registry.yml"
	waitfor registry 100 curl -sf "http://$REG/v2/"
	"$C/tools/mkimage" -bin "$C/tools/pause" -ref "$PAUSE"
	bg containerd containerd --config "$K/etc/containerd/config.toml"
	bg etcd etcd --name crossin-ci --data-dir "$K/var/etcd" --listen-client-urls http://127.0.0.1:2379 \
		--advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster crossin-ci=http://127.0.0.1:2380 \
		--unsafe-no-fsync
	waitfor etcd 600 curl -sf http://127.0.0.1:2379/health
	# --watch-cache=false: Debian's etcd 3.4 cannot answer the watch
	# cache's progress requests, so the cache lags etcd and a watch from a
	# fresh list's resourceVersion (or from none) fails with "Too large
	# resource version" until an unrelated write catches it up; without
	# the cache, watches are served by etcd directly.
	bg kube-apiserver "$B/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
		--bind-address=127.0.0.1 --advertise-address="$IP" --secure-port=6443 \
		--tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
		--kubelet-client-certificate="$P/admin.crt" --kubelet-client-key="$P/admin.key" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
		--service-cluster-ip-range=10.96.0.0/16 --authorization-mode=Node,RBAC --allow-privileged=true \
		--watch-cache=false
	waitfor apiserver 1800 curl -sf --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" https://127.0.0.1:6443/readyz
	bg kube-controller-manager "$B/kube-controller-manager" --kubeconfig="$P/admin.kubeconfig" \
		--authentication-kubeconfig="$P/admin.kubeconfig" --authorization-kubeconfig="$P/admin.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
		--service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
		--cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key"
	bg kube-scheduler "$B/kube-scheduler" --kubeconfig="$P/admin.kubeconfig" \
		--authentication-kubeconfig="$P/admin.kubeconfig" --authorization-kubeconfig="$P/admin.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false
	waitfor containerd 600 ctr -a "$K/run/containerd/containerd.sock" version
	bg kubelet "$B/kubelet" --config="$K/etc/kubelet-config.yaml" --kubeconfig="$P/node.kubeconfig" \
		--root-dir="$K/var/kubelet" --hostname-override="$NODE" --node-ip="$IP" -v=1
	waitfor node-ready 1800 healthy
	waitfor default-serviceaccount 1800 kc -n default get serviceaccount default
	writeenv
	log "cluster up in $(el "$t0")s (state $K, kubeconfig $P/admin.kubeconfig, registry $REG)"
}

stop() {
	local n p ps=()
	for n in "$@"; do
		p=$(cat "$R/$n.pid" 2>/dev/null) || continue
		kill "$p" 2>/dev/null && ps+=("$p")
		rm -f "$R/$n.pid"
	done
	for p in "${ps[@]}"; do
		for _ in $(seq 150); do alive "$p" || break; sleep 0.1; done
		if alive "$p"; then kill -9 "$p"; fi
	done
	return 0
}

down() {
	local t0 p m d
	t0=$(now)
	rm -f "$ENVF"
	[ -d "$K" ] || { log "nothing to stop"; return 0; }
	# pods first, through the kubelet, so that CNI and mounts are torn down
	if [ -s "$R/kubelet.pid" ] && [ -s "$P/admin.kubeconfig" ]; then
		kc delete jobs,pods --all -A --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
		for _ in $(seq 100); do
			[ -z "$(ls "$K/var/kubelet/pods" 2>/dev/null)" ] && break
			sleep 0.1
		done
	fi
	stop kubelet
	stop kube-scheduler kube-controller-manager kube-apiserver
	stop etcd containerd registry
	# shims of our containerd, by PID
	for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $K/run/containerd/containerd.sock" || true); do
		kill -9 "$p" 2>/dev/null || true
	done
	awk -v k="$K/" 'index($2, k) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	for d in /sys/fs/cgroup/*/kubepods; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	ip link del crossinbr0 2>/dev/null || true
	[ -s "$R/ip_forward" ] && sysctl -qw net.ipv4.ip_forward="$(cat "$R/ip_forward")" && rm -f "$R/ip_forward"
	# what containerd 1.6 and the kubelet write outside their directories
	rm -rf /run/containerd/runc/k8s.io /var/lib/cni/results /var/lib/kubelet/device-plugins
	find /var/log/containers -maxdepth 1 -lname "$K/*" -delete 2>/dev/null || true
	# everything but the cached registry storage and PKI goes
	rm -rf "$K/var/etcd" "$K/var/kubelet" "$K/var/containerd" "$K/run" "$K/var/cni" "$K/var/log"
	log "down in $(el "$t0")s; mounts left under $K: $(awk -v k="$K/" 'index($2, k) == 1' /proc/self/mounts | wc -l)"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) IP=$(node_ip); if [ -s "$P/admin.kubeconfig" ] && healthy; then echo up; else echo down; exit 1; fi ;;
build) packages && build ;;
packages) packages ;;
binaries) build ;;
*) echo "usage: $0 up|down|status|build|packages|binaries" >&2; exit 2 ;;
esac
