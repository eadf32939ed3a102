# Sourced by scripts/lab.sh: Nagios Core on control, watching the lab with
# labfleet's plugins, from the config `labcontroller nagios config` generates.

nagios_up() {
  local d=$LAB_DIR/nagios pw=$LAB_DIR/secrets/nagios-db
  say "Nagios Core on control, with labfleet's plugins"
  secret "$pw"
  # The replication check logs in to each MariaDB as a monitoring account
  # (created on node1; replication brings it to node2).
  MYSQL_PWD="$(cat "$LAB_DIR/secrets/mariadb-root-node1")" mariadb --no-defaults -h "${NODE_IPS[0]}" -uroot <<SQL
CREATE USER IF NOT EXISTS 'nagios'@'%' IDENTIFIED BY '$(cat "$pw")';
GRANT REPLICA MONITOR ON *.* TO 'nagios'@'%';
SQL
  mkdir -p "$d/objects" "$d/spool" "$d/rw"
  # The plugins present the monitoring certificate (role monitoring: read-only
  # RPCs), never labcontroller's, which may deploy.
  ctl --ca "$LAB_DIR/certs/ca.crt" --cert "$LAB_DIR/certs/nagios.crt" --key "$LAB_DIR/certs/nagios.key" \
    --haproxy "$LAB_DIR/run/haproxy.sock" --haproxy-backend app \
    nagios config --out "$d/objects" --app todo --haproxy-frontend "$CONTROL_IP:$HTTP_PORT" --plugin-dir "$BIN" \
    --db-user nagios --db-password-file "$pw" --check-interval 30s >/dev/null
  grep '^\$USER' "$d/objects/resource.cfg.example" > "$d/resource.cfg"
  chmod 600 "$d/resource.cfg"
  cat > "$d/nagios.cfg" <<CFG
cfg_dir=$d/objects
resource_file=$d/resource.cfg
nagios_user=$(id -u)
nagios_group=$(id -g)
log_file=$d/nagios.log
status_file=$d/status.dat
status_update_interval=2
object_cache_file=$d/objects.cache
precached_object_file=$d/objects.precache
temp_file=$d/nagios.tmp
temp_path=$d
check_result_path=$d/spool
lock_file=$LAB_DIR/run/nagios.pid
check_external_commands=1
command_file=$d/rw/nagios.cmd
query_socket=$d/rw/nagios.qh
retain_state_information=0
interval_length=60
max_service_check_spread=1
max_host_check_spread=1
enable_notifications=0
check_for_updates=0
bare_update_check=1
date_format=iso8601
CFG
  nagios4 -v "$d/nagios.cfg" > "$LAB_DIR/log/nagios-verify.log" 2>&1 || die "nagios4 -v refused the config; see $LAB_DIR/log/nagios-verify.log"
  if alive "$LAB_DIR/run/nagios.pid"; then
    kill -HUP "$(cat "$LAB_DIR/run/nagios.pid")"   # reload the regenerated config
  else
    nagios4 -d "$d/nagios.cfg" || die "nagios4 did not start"
  fi
  wait_for 30 "Nagios" test -p "$d/rw/nagios.cmd"
  # Check everything now rather than within the first interval.
  local now; now=$(date +%s)
  echo "[$now] SCHEDULE_FORCED_HOST_SVC_CHECKS;control;$now" > "$d/rw/nagios.cmd"
  local n; for n in "${NODES[@]}"; do echo "[$now] SCHEDULE_FORCED_HOST_SVC_CHECKS;$n;$now" > "$d/rw/nagios.cmd"; done
}

nagios_where() {
  local d=$LAB_DIR/nagios
  echo "  Nagios:                $d/status.dat (force checks: echo \"[\$(date +%s)] SCHEDULE_FORCED_HOST_SVC_CHECKS;node1;\$(date +%s)\" > $d/rw/nagios.cmd)"
  if [[ -x /usr/lib/cgi-bin/nagios4/status.cgi ]]; then
    echo "                         web UI: http://localhost/nagios4/ (Debian's nagios4-cgi; point its main_config_file at $d/nagios.cfg)"
  else
    echo "                         web UI: apt-get install nagios4-cgi apache2, then http://localhost/nagios4/"
  fi
}
