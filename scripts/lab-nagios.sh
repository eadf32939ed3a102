# Sourced by scripts/lab.sh: Nagios Core on control, watching the lab with
# labfleet's plugins, from the config `labcontroller nagios config` generates.

# Where Nagios' notifications go: a local account's mailbox, delivered by
# Debian's exim4 (root's own mail is redirected by Debian's exim config).
NAGIOS_MAIL_USER=labfleet-alerts
NAGIOS_WEB_PORT=${LAB_NAGIOS_WEB_PORT:-8080}

# nagios_web_dir is where the web interface's CGIs (running as www-data)
# read Nagios' main config, status and object cache: outside $LAB_DIR, whose
# parents www-data may not be able to enter. One per lab directory.
nagios_web_dir() { echo "/var/lib/labfleet-lab-web/$(printf '%s' "$LAB_DIR" | sha1sum | cut -c1-12)"; }

nagios_up() {
  local d=$LAB_DIR/nagios pw=$LAB_DIR/secrets/nagios-db w; w=$(nagios_web_dir)
  say "Nagios Core on control, with labfleet's plugins"
  secret "$pw"
  # The replication check logs in to each MariaDB as a monitoring account
  # (created on node1; replication brings it to node2).
  MYSQL_PWD="$(cat "$LAB_DIR/secrets/mariadb-root-node1")" mariadb --no-defaults -h "${NODE_IPS[0]}" -uroot <<SQL
CREATE USER IF NOT EXISTS 'nagios'@'%' IDENTIFIED BY '$(cat "$pw")';
GRANT REPLICA MONITOR ON *.* TO 'nagios'@'%';
SQL
  mkdir -p "$d/objects" "$d/spool" "$d/rw" "$w"
  chmod 755 "$(dirname "$w")" "$w"
  # Notifications go to a real local mailbox.
  if ! id "$NAGIOS_MAIL_USER" >/dev/null 2>&1; then
    useradd --system --create-home --home-dir "/var/lib/$NAGIOS_MAIL_USER" --shell /usr/sbin/nologin "$NAGIOS_MAIL_USER"
  fi
  # The plugins present the monitoring certificate (role monitoring: read-only
  # RPCs), never labcontroller's, which may deploy.
  ctl --ca "$LAB_DIR/certs/ca.crt" --cert "$LAB_DIR/certs/nagios.crt" --key "$LAB_DIR/certs/nagios.key" \
    --haproxy "$LAB_DIR/run/haproxy.sock" --haproxy-backend app \
    nagios config --out "$d/objects" --app todo --haproxy-frontend "$CONTROL_IP:$HTTP_PORT" --plugin-dir "$BIN" \
    --db-user nagios --db-password-file "$pw" --check-interval 30s --contact-email "$NAGIOS_MAIL_USER@localhost" >/dev/null
  grep '^\$USER' "$d/objects/resource.cfg.example" > "$d/resource.cfg"
  chmod 600 "$d/resource.cfg"
  # The main config, status and object cache live in $w for the web
  # interface; $d/nagios.cfg and $d/status.dat point there.
  cat > "$w/nagios.cfg" <<CFG
cfg_dir=$d/objects
resource_file=$d/resource.cfg
nagios_user=$(id -u)
nagios_group=$(id -g)
log_file=$d/nagios.log
status_file=$w/status.dat
status_update_interval=2
object_cache_file=$w/objects.cache
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
enable_notifications=1
check_for_updates=0
bare_update_check=1
date_format=iso8601
CFG
  chmod 644 "$w/nagios.cfg"
  ln -sfn "$w/nagios.cfg" "$d/nagios.cfg"
  ln -sfn "$w/status.dat" "$d/status.dat"
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

# nagios_web_up serves the lab's Nagios through Debian's nagios4-cgi behind
# Debian's Apache on the control address, with a login (nagiosadmin and a
# generated password in $LAB_DIR/secrets/nagios-web).
nagios_web_up() {
  local w; w=$(nagios_web_dir)
  local pid=$LAB_DIR/run/apache.pid pwf=$LAB_DIR/secrets/nagios-web
  [[ -x /usr/lib/cgi-bin/nagios4/status.cgi ]] || { echo "no Nagios web interface: run scripts/install-deps.sh (nagios4-cgi, apache2)"; return; }
  secret "$pwf"
  htpasswd -i -c "$w/htpasswd" nagiosadmin < "$pwf" 2>/dev/null
  chgrp www-data "$w/htpasswd" && chmod 640 "$w/htpasswd"
  cat > "$w/cgi.cfg" <<CFG
main_config_file=$w/nagios.cfg
physical_html_path=/usr/share/nagios4/htdocs
url_html_path=/nagios4
use_authentication=1
authorized_for_system_information=nagiosadmin
authorized_for_configuration_information=nagiosadmin
authorized_for_all_services=nagiosadmin
authorized_for_all_hosts=nagiosadmin
authorized_for_read_only=nagiosadmin
CFG
  chmod 644 "$w/cgi.cfg"
  cat > "$w/apache2.conf" <<CFG
ServerRoot /etc/apache2
ServerName $CONTROL_IP
Listen $CONTROL_IP:$NAGIOS_WEB_PORT
PidFile $pid
Mutex file:$w default
ErrorLog $LAB_DIR/log/apache-error.log
LogLevel warn
User www-data
Group www-data
$(for m in mpm_prefork authz_core authz_host authz_user authn_core authn_file auth_basic alias cgi mime dir env; do echo "LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so"; done)
$(php=$(ls /usr/lib/apache2/modules/libphp*.so 2>/dev/null | head -n 1); [[ -n $php ]] && printf 'LoadModule php_module %s\n<FilesMatch "\\.php$">\n    SetHandler application/x-httpd-php\n</FilesMatch>\n' "$php")
TypesConfig /etc/mime.types
ScriptAlias /cgi-bin/nagios4 /usr/lib/cgi-bin/nagios4
ScriptAlias /nagios4/cgi-bin /usr/lib/cgi-bin/nagios4
Alias /nagios4/stylesheets /etc/nagios4/stylesheets
Alias /nagios4 /usr/share/nagios4/htdocs
<Directory />
    Require all denied
</Directory>
<DirectoryMatch (/usr/share/nagios4/htdocs|/usr/lib/cgi-bin/nagios4|/etc/nagios4/stylesheets)>
    Options FollowSymLinks
    DirectoryIndex index.php index.html
    AuthType Basic
    AuthName "labfleet lab Nagios"
    AuthUserFile $w/htpasswd
    Require valid-user
    SetEnv NAGIOS_CGI_CONFIG $w/cgi.cfg
</DirectoryMatch>
CFG
  if alive "$pid"; then
    setsid apache2 -f "$w/apache2.conf" -k graceful </dev/null >/dev/null 2>&1 || die "apache2 did not reload; see $LAB_DIR/log/apache-error.log"
  else
    # Its own session: Apache stops by signalling its process group.
    setsid apache2 -f "$w/apache2.conf" -k start </dev/null >/dev/null 2>&1 || die "apache2 did not start; see $LAB_DIR/log/apache-error.log"
  fi
  wait_for 15 "the Nagios web interface" web_ok "http://$CONTROL_IP:$NAGIOS_WEB_PORT/cgi-bin/nagios4/status.cgi" "$pwf"
}

# web_ok URL PASSWORD-FILE: the page answers 2xx to nagiosadmin (the
# password goes to curl on stdin, never in its arguments).
web_ok() { curl -fsS -o /dev/null -K - "$1" <<<"user = \"nagiosadmin:$(cat "$2")\""; }

nagios_down() {
  rm -rf "$(nagios_web_dir)"
}

nagios_where() {
  local d=$LAB_DIR/nagios
  echo "  Nagios:                $d/status.dat (force checks: echo \"[\$(date +%s)] SCHEDULE_FORCED_HOST_SVC_CHECKS;node1;\$(date +%s)\" > $d/rw/nagios.cmd)"
  echo "  Nagios web UI:         http://$CONTROL_IP:$NAGIOS_WEB_PORT/nagios4/ (user nagiosadmin, password in $LAB_DIR/secrets/nagios-web)"
  echo "  Nagios notifications:  mailed to $NAGIOS_MAIL_USER@localhost: read them with: mail -f /var/mail/$NAGIOS_MAIL_USER"
}
