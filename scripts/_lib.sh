# shellcheck shell=bash
# Helpers shared by scripts/*. Sourced, never run directly.
# Everything here writes to stderr so that scripts whose stdout is meant to be
# eval'ed (scripts/services) stay clean.

log() { printf '[%s] %s\n' "${WEIJIAN_SCRIPT:-weijian}" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "${WEIJIAN_SCRIPT:-weijian}" "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# apt_install PKG...: install Debian packages non-interactively (CI has no stdin).
# Runs `apt-get update` once per script run, because a fresh machine may have
# empty or stale package lists. While installing, a policy-rc.d that refuses to
# start services is put in place (if none exists) so that the packages' default
# instances (PostgreSQL on 5432, Redis on 6379) are not started: we run our own.
_WEIJIAN_APT_UPDATED=0
apt_install() {
    is_root || die "need root to apt-get install $*; install them by hand"
    export DEBIAN_FRONTEND=noninteractive
    if [ "$_WEIJIAN_APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        apt-get update -qq >&2 || die "apt-get update failed"
        _WEIJIAN_APT_UPDATED=1
    fi
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    log "apt-get install $*"
    local rc=0
    apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >&2 || rc=$?
    if [ "$made_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ "$rc" -eq 0 ] || die "apt-get install $* failed (exit $rc)"
}
