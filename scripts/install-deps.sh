#!/usr/bin/env bash
# Installs the real programs labfleet's tests and lab run: Debian's MariaDB,
# HAProxy, Nagios Core, ansible-core, monitoring-plugins and a local MTA
# (exim4, bsd-mailx) for Nagios' notifications, and the pinned
# Go tools (buf, grpcurl, protoc plugins). Safe to re-run: it installs only
# what is missing. Needs root (or sudo) for apt-get on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A pkg_for=(
  [ansible-inventory]=ansible-core
  [ansible-playbook]=ansible-core
  [haproxy]=haproxy
  [mariadbd]=mariadb-server
  [mariadb]=mariadb-client
  [mariadb-install-db]=mariadb-server
  [nagios4]=nagios4-core
  [/usr/lib/nagios/plugins/check_http]=monitoring-plugins-basic
  [/usr/lib/nagios/plugins/check_mysql]=monitoring-plugins-standard
  [/usr/lib/nagios/plugins/check_nrpe]=nagios-nrpe-plugin
  [nrpe]=nagios-nrpe-server
  [/usr/bin/time]=time
  [icinga2]=icinga2
  [/usr/lib/x86_64-linux-gnu/liburiparser.so.1]=liburiparser1
  # Nagios' notifications: the mail command and an MTA with local delivery.
  [mail]=bsd-mailx
  [exim4]=exim4-daemon-light
  # The Nagios web interface (Debian's CGIs behind Debian's Apache) and the
  # headless browser its test looks at it with.
  [apache2]=apache2
  [/usr/lib/cgi-bin/nagios4/status.cgi]=nagios4-cgi
  [chromium]=chromium
)
missing=()
for cmd in "${!pkg_for[@]}"; do
  if [[ $cmd == /* ]]; then [[ -x $cmd ]] && continue
  elif PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null 2>&1; then continue; fi
  missing+=("${pkg_for[$cmd]}")
done
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  # Services stay stopped: tests and the lab start their own instances.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the Apache it installs on *:80, where the lab's HAProxy
  # listens; the lab and the tests run their own Apache on other ports.
  if [[ " ${missing[*]} " == *" apache2 "* ]]; then
    { $sudo systemctl disable --now apache2 || $sudo service apache2 stop; } >/dev/null 2>&1 || true
  fi
fi

gobin=$(go env GOPATH)/bin
tools=(buf grpcurl protoc-gen-go protoc-gen-go-grpc)
for t in "${tools[@]}"; do
  if [[ ! -x $gobin/$t ]]; then
    echo "install-deps: installing pinned Go tools"
    make --no-print-directory tools
    break
  fi
done

if ! docker info >/dev/null 2>&1; then
  echo "install-deps: the Docker Engine is not answering (docker info failed)." >&2
  echo "  Start it (systemctl start docker, or dockerd &) and run again." >&2
  exit 1
fi
