# shellcheck shell=bash disable=SC2154,SC2034  # sourced: the caller's variables
# Sourced by ci/kernels: from what a user typed (a version, a package, a
# vmlinuz path, `host`) to a kernel image on disk. A Debian package is
# fetched with `apt-get download` and unpacked with `dpkg -x` into
# $target/kernels/cache/<package>/ (boot/vmlinuz-VER, lib/modules/VER
# with modules.dep made by depmod): never installed, never in /boot or
# /lib/modules. virtme-ng finds the modules there by itself: it looks for
# lib/modules/VER in the folders above the image and links it into the
# guest.
#
# A machine whose apt has no Debian kernels (GitHub's Ubuntu runners) asks
# a Debian 12 container's apt (docker; TCPLAB_KERNEL_APT_IMAGE), which
# resolves the version and downloads the package into the cache's folder;
# dpkg -x and depmod run here as for a local download.
#
# resolve_kernel SPEC sets K_IMG (the image), K_REL (its release, as
# `uname -r` will say), K_SRC (where it came from); or K_WHY and returns 1.

# The flavour a bare version means: Debian's cloud kernels are the smallest
# (27 MB, veth, netem, nfqueue as modules; no 9p, virtiofs is there).
flavour=${TCPLAB_KERNEL_FLAVOUR:-cloud-amd64}

# The release a bzImage says it is (its setup header's version string).
image_release() {
    local f=$1 off
    [ "$(dd if="$f" bs=1 skip=514 count=4 status=none 2>/dev/null)" = HdrS ] || return 1
    off=$(od -An -tu2 -j526 -N2 "$f" | tr -d ' ')
    [ -n "$off" ] && [ "$off" -gt 0 ] || return 1
    dd if="$f" bs=1 skip=$((off + 512)) count=256 status=none | tr '\0' '\n' | head -n 1 | cut -d' ' -f1
}

# The newest linux-image-V...-FLAVOUR package apt knows: 6.1 ->
# linux-image-6.1.0-57-cloud-amd64, 6.12 -> linux-image-6.12.118+deb12-cloud-amd64.
package_for_version() {
    local v=$1 re p dep
    re="^linux-image-${v//./\\.}[.+-][0-9][^ ]*-$flavour\$"
    p=$(apt-cache pkgnames "linux-image-$v" 2>/dev/null | grep -E "$re" | sort -V | tail -n 1)
    [ -n "$p" ] || p=linux-image-$v-$flavour
    # A meta package (linux-image-6.12-cloud-amd64) names the image it wants.
    dep=$(apt-cache depends "$p" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
    echo "${dep:-$p}"
}

apt_image=${TCPLAB_KERNEL_APT_IMAGE:-debian:12}

# Where Debian's kernel packages are to be had: `local` (this machine's
# apt knows linux-image-*-FLAVOUR), `container` (docker), or nowhere.
apt_where() {
    local names
    names=$(apt-cache pkgnames linux-image- 2>/dev/null)
    if grep -q -- "-$flavour\$" <<<"$names"; then
        echo local
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        echo container
    fi
}

# in_debian SCRIPT [FOLDER]: runs a bash script in a Debian 12 container
# whose apt lists are fresh, FOLDER (if given) mounted at /out and given
# back to this user afterwards.
in_debian() {
    local mount=()
    [ -n "${2:-}" ] && mount=(-v "$2:/out")
    docker run --rm "${mount[@]}" -e flavour="$flavour" "$apt_image" bash -c "
        set -e
        apt-get update -qq >/dev/null
        $(declare -f package_for_version)
        $1
        if [ -d /out ]; then chown -R $(id -u):$(id -g) /out; fi"
}

# apt_where's answer, once per matrix run (ci/kernels asks before the
# kernels' jobs start).
apt_at=${apt_at:-}

# The package a version means, asked where Debian's apt is.
package_named() {
    case $1 in
        linux-image-*) echo "$1" ;;
        *)
            case $apt_at in
                local) package_for_version "$1" ;;
                container) in_debian "package_for_version $(printf %q "$1")" ;;
            esac ;;
    esac
}

# fetch_package PKG: the unpacked package in the cache, fetched once
# (concurrent jobs wanting the same package wait for the first).
fetch_package() {
    local pkg=$1 dir tmp deb size mods rel
    dir=$target/kernels/cache/$pkg
    exec {lock}>"$target/kernels/cache/.$pkg.lock"
    flock "$lock"
    if [ -f "$dir/.complete" ]; then
        K_SRC="$pkg (cached)"
    else
        tmp=$(mktemp -d "$target/kernels/cache/.fetch-XXXXXX")
        local sandbox=()
        # apt's download user (_apt) cannot write a root-owned folder.
        [ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
        local where=$apt_at
        if [ -z "$where" ]; then
            K_WHY="no apt here knows Debian's linux-image-*-$flavour packages, and no docker to ask a $apt_image container"
            rm -rf "$tmp"
            exec {lock}>&-
            return 1
        fi
        if [ "$where" = container ]; then
            in_debian "cd /out && apt-get download -q $(printf %q "$pkg")" "$tmp" >"$tmp/apt.log" 2>&1
        else
            (cd "$tmp" && apt-get download -q "${sandbox[@]}" "$pkg") >"$tmp/apt.log" 2>&1
        fi
        # shellcheck disable=SC2181
        if [ $? != 0 ] || ! ls "$tmp"/*.deb >/dev/null 2>&1; then
            K_WHY="apt-get download $pkg failed: $(grep -E '^(E|W):' "$tmp/apt.log" | head -n 1)"
            rm -rf "$tmp"
            exec {lock}>&-
            return 1
        fi
        deb=$(ls "$tmp"/*.deb)
        size=$(du -m "$deb" | cut -f1)
        if ! dpkg -x "$deb" "$tmp/root"; then
            K_WHY="dpkg -x $deb failed"
            rm -rf "$tmp"
            exec {lock}>&-
            return 1
        fi
        # Packages put modules in lib/modules or usr/lib/modules.
        for mods in "$tmp/root/lib/modules" "$tmp/root/usr/lib/modules"; do
            [ -d "$mods" ] || continue
            for rel in "$mods"/*; do
                depmod -a -b "${mods%/lib/modules}" "$(basename "$rel")" ||
                    echo "ci/kernels: depmod for $(basename "$rel") failed: modules will not load" >&2
            done
        done
        rm -rf "$dir"
        mv "$tmp/root" "$dir"
        rm -rf "$tmp"
        touch "$dir/.complete"
        K_SRC="$pkg (apt-get download$([ "$where" = container ] && echo " in a $apt_image container"), $size MB)"
    fi
    exec {lock}>&-
    K_IMG=$(ls "$dir"/boot/vmlinuz-* 2>/dev/null | head -n 1)
    [ -n "$K_IMG" ] || { K_WHY="$pkg holds no boot/vmlinuz-*"; return 1; }
}

# The running kernel's image. GitHub's Ubuntu runners keep it readable by
# root only: then a copy goes to the cache, readable by the user.
host_image() {
    local rel f copy
    rel=$(uname -r)
    for f in "/boot/vmlinuz-$rel" "/lib/modules/$rel/vmlinuz" "/usr/lib/modules/$rel/vmlinuz"; do
        [ -e "$f" ] && break
    done
    if [ ! -e "$f" ]; then
        K_WHY="no image of the running kernel $rel (no /boot/vmlinuz-$rel, no /lib/modules/$rel/vmlinuz)"
        return 1
    fi
    K_IMG=$f K_SRC="the running kernel ($f)"
    [ -r "$f" ] && return 0
    copy=$target/kernels/cache/host-$rel/vmlinuz-$rel
    mkdir -p "${copy%/*}"
    if ! sudo -n install -m 0644 -o "$(id -u)" -g "$(id -g)" "$f" "$copy"; then
        K_WHY="$f is not readable and sudo -n could not copy it"
        return 1
    fi
    K_IMG=$copy K_SRC="the running kernel ($f, copied: it is root's only)"
}

resolve_kernel() {
    local spec=$1
    K_IMG='' K_REL='' K_SRC='' K_WHY=''
    case $spec in
        host) host_image || return 1 ;;
        */* | vmlinu[xz]*)
            if [ ! -f "$spec" ]; then
                K_WHY="$spec: no such file"
                return 1
            fi
            K_IMG=$(realpath "$spec") K_SRC=$spec ;;
        linux-image-*) fetch_package "$spec" || return 1 ;;
        [0-9]*)
            local pkg
            pkg=$(package_named "$spec")
            if [ -z "$pkg" ]; then
                K_WHY="no apt here knows Debian's linux-image-$spec*-$flavour packages, and no docker to ask a $apt_image container"
                return 1
            fi
            fetch_package "$pkg" || return 1 ;;
        *)
            K_WHY="'$spec' is neither a version (6.1), a linux-image-* package, a vmlinuz path nor 'host'"
            return 1 ;;
    esac
    if ! K_REL=$(image_release "$K_IMG") || [ -z "$K_REL" ]; then
        K_WHY="$K_IMG is not a bzImage (no HdrS setup header)"
        return 1
    fi
}
