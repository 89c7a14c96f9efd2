#!/bin/bash
# .ci/services.sh installs and starts the real services crossin's integration
# tests use (podman + runc, an OCI registry on 127.0.0.1:5000, a single-node
# Slurm with munge) on a fresh Debian 12 machine without systemd, following
# the tested recipe in ../shared/notes/local-infra.md. It is idempotent: a
# second run finds everything running and only rewrites .ci/services.env.
#
# .ci/run sources .ci/services.env afterwards; the tests read:
#   CROSSIN_TEST_REGISTRY=127.0.0.1:5000  plain-HTTP registry for image/cache tests
#   CROSSIN_TEST_PODMAN=1                 podman works (container backend tests)
#   CROSSIN_TEST_SLURM=1                  sbatch/scontrol/scancel work (slurm backend tests)
# A service that fails to come up is left out of the file (its tests skip) and
# makes the script exit non-zero at the end, so CI sees it.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ENVFILE="$HERE/services.env"
STATE=${CROSSIN_CI_STATE:-/var/lib/crossin-ci}
mkdir -p "$STATE"
failed=0
log() { echo "services.sh: $*" >&2; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# ---- 0. install (exact package set of the notes, section 0) -------------------
export DEBIAN_FRONTEND=noninteractive
need=0
for b in munged slurmctld slurmd sbatch podman runc busybox docker-registry curl; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || need=1
done
if [ "$need" = 1 ]; then
  # keep package postinst scripts from starting daemons
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  fi
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    munge slurmctld slurmd slurm-client \
    podman runc busybox-static docker-registry curl >/dev/null || { log "apt-get install failed"; exit 1; }
fi

# ---- 1. podman config drop-ins ------------------------------------------------
mkdir -p /etc/containers/containers.conf.d /etc/containers/registries.conf.d
cat > /etc/containers/containers.conf.d/50-ci.conf <<'CONF'
[containers]
# no CAP_SYS_RESOURCE on CI VMs: podman's root rlimit defaults cannot be applied
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
# crun 1.8.1 fails on hybrid cgroup v1+v2 mounts
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
cat > /etc/containers/registries.conf.d/50-ci-local.conf <<'CONF'
[[registry]]
location = "localhost:5000"
insecure = true

[[registry]]
location = "127.0.0.1:5000"
insecure = true
CONF
podman_ok=0
if podman info --format '{{.Host.OCIRuntime.Name}}' >/dev/null 2>&1; then
  podman_ok=1
else
  log "podman info failed"; failed=1
fi

# ---- 2. registry on 127.0.0.1:5000 ---------------------------------------------
registry_ok=0
if curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1; then
  registry_ok=1
else
  mkdir -p "$STATE/registry"
  cat > "$STATE/registry/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
CONF
  setsid docker-registry serve "$STATE/registry/config.yml" > "$STATE/registry/log" 2>&1 < /dev/null &
  echo $! > "$STATE/registry/pid"
  for i in $(seq 100); do curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1 && { registry_ok=1; break; }; sleep 0.1; done
  [ "$registry_ok" = 1 ] || { log "registry did not answer; see $STATE/registry/log"; failed=1; }
fi

# ---- 3. munge + slurmctld + slurmd ---------------------------------------------
slurm_ok=0
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
if ! alive /run/munge/munged.pid; then
  runuser -u munge -- /usr/sbin/munged || { log "munged failed"; failed=1; }
fi
if ! alive /run/slurmctld.pid || ! alive /run/slurmd.pid; then
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MinJobAge=600
$(slurmd -C | head -1) NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  mkdir -p /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
  alive /run/slurmctld.pid || slurmctld -i || { log "slurmctld failed"; failed=1; }
  alive /run/slurmd.pid || slurmd || { log "slurmd failed"; failed=1; }
fi
for i in $(seq 150); do
  case "$(sinfo -h -o %t 2>/dev/null)" in idle|mix|alloc) slurm_ok=1; break;; esac
  sleep 0.2
done
[ "$slurm_ok" = 1 ] || { log "slurm node not idle: $(sinfo 2>&1 | tail -1)"; failed=1; }

# ---- 4. services.env -------------------------------------------------------------
tmp="$ENVFILE.tmp.$$"
{
  echo "# written by .ci/services.sh; sourced by .ci/run"
  if [ "$registry_ok" = 1 ]; then echo "export CROSSIN_TEST_REGISTRY=127.0.0.1:5000"; fi
  if [ "$podman_ok" = 1 ]; then
    echo "export CROSSIN_TEST_PODMAN=1"
    # a docker CLI without a daemon may be on PATH (as on these VMs): name podman
    echo "export CROSSIN_CONTAINER_ENGINE=podman"
  fi
  if [ "$slurm_ok" = 1 ]; then echo "export CROSSIN_TEST_SLURM=1"; fi
} > "$tmp" && mv "$tmp" "$ENVFILE"
cat "$ENVFILE" >&2
exit "$failed"
