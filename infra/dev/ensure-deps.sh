#!/usr/bin/env bash
# Installs what shoal's `make run` needs on a fresh Debian machine (apt-packages.txt). With
# --postgres (what `make test` passes) it also installs the test clients (apt-packages-test.txt) and
# makes sure the system PostgreSQL answers at 127.0.0.1:5432 (starting the installed cluster, or
# installing one with trust auth on loopback when none is installed). With --soak (what `make soak`
# adds) it also installs the load generator (apt-packages-soak.txt).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
want_postgres=0
want_soak=0
for arg in "$@"; do
  case "$arg" in
    --postgres) want_postgres=1 ;;
    --soak) want_soak=1 ;;
    *) echo "ensure-deps: unknown option $arg (known: --postgres, --soak)" >&2; exit 2 ;;
  esac
done

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi

apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then
    echo "ensure-deps: apt-get update" >&2
    $sudo apt-get update -qq
    apt_updated=1
  fi
  echo "ensure-deps: installing $*" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

lists=("$here/apt-packages.txt")
[[ $want_postgres -eq 1 ]] && lists+=("$here/apt-packages-test.txt")
[[ $want_soak -eq 1 ]] && lists+=("$here/apt-packages-soak.txt")
missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < <(cat "${lists[@]}")

have_pg_server() { compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }
installed_pg=0
if ! have_pg_server; then
  missing+=(postgresql postgresql-client)
  installed_pg=1
fi
if [[ ${#missing[@]} -gt 0 ]]; then apt_install "${missing[@]}"; fi

[[ $want_postgres -eq 1 ]] || exit 0

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_ready; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  if [[ -z "$version" ]]; then
    echo "ensure-deps: no PostgreSQL cluster under /etc/postgresql; creating one" >&2
    version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    $sudo pg_createcluster "$version" main >/dev/null
    installed_pg=1
  fi
  if [[ $installed_pg -eq 1 ]]; then
    # A fresh Debian cluster wants passwords on loopback; the tests connect as postgres with none.
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    grep -q "shoal-test trust" "$hba" || $sudo sed -i "1i host all all 127.0.0.1/32 trust # shoal-test trust" "$hba"
  fi
  echo "ensure-deps: starting PostgreSQL $version" >&2
  $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
fi
if ! pg_ready; then
  echo "ensure-deps: PostgreSQL does not answer at 127.0.0.1:5432; set DATABASE_URL to a server that does" >&2
  exit 1
fi
