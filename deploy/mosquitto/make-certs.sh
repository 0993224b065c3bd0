#!/bin/sh
# A private CA and a server certificate for Mosquitto's TLS listener (8883), for a site without
# its own PKI. Usage: make-certs.sh DIR [HOSTNAME...]: writes DIR/ca.crt (give it to clients:
# VITALS_MQTT_CA_FILE), DIR/ca.key (keep it offline, or delete it), DIR/server.crt, server.key.
# The server certificate names every HOSTNAME (default: mosquitto), localhost and 127.0.0.1;
# clients connect as mqtts://HOSTNAME:8883. Run by mosquitto-init (docker-compose.yml) and by
# the tests (tests/test_transport.py), so what ships is what is tested.
set -eu
dir=$1
shift
[ "$#" -gt 0 ] || set -- mosquitto
names="DNS:localhost,IP:127.0.0.1"
for name in "$@"; do names="DNS:$name,$names"; done
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 -subj "/CN=session-vitals MQTT CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -subj "/CN=$1" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$names" \
  > "$dir/server.ext"
openssl x509 -req -sha256 -days 825 -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
  -CAcreateserial -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
chmod 0644 "$dir/ca.crt"
