#!/usr/bin/env bash
# Builds the guest that the QEMU guest tests boot (test/qemu/boot-guest.ts): Debian's kernel and a
# busybox initramfs holding ./init and the eight virtio-net modules, taken
# from Debian packages (apt-get download + dpkg -x; nothing is installed).
#
#   test/qemu/guest/build.sh [DIR]    DIR defaults to $UVALE_GUEST_DIR, else
#                                     /var/cache/uvale-test/guest
#
# Writes DIR/vmlinuz, DIR/initrd.img and DIR/stamp (the sha256 of ./init).
# Does nothing when DIR already holds an image built from this ./init.
# Needs apt-get, dpkg-deb, gzip and (for old-style compressed modules) xz or zstd.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-${UVALE_GUEST_DIR:-/var/cache/uvale-test/guest}}"
stamp="$(sha256sum "$here/init" | cut -d' ' -f1)"
if [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "guest image up to date in $out"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# apt-get download drops privileges to _apt, which must be able to write here
if id _apt >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then chown _apt "$work"; fi

# the kernel package the linux-image-amd64 metapackage points to today, and busybox
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }'; }
fetch() {
  pkg="$(kernel_pkg)"
  [ -n "$pkg" ] && (cd "$work" && apt-get download -qq "$pkg" busybox-static)
}
# no package lists yet, or stale ones (a kernel the mirror no longer has): update once and retry
fetch || { apt-get update -qq && fetch; } || {
  echo "build.sh: cannot download linux-image-amd64's kernel package and busybox-static" >&2
  exit 1
}
dpkg -x "$work"/linux-image-*.deb "$work/k"
dpkg -x "$work"/busybox-static_*.deb "$work/b"

root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
cp "$work/b/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$here/init" "$root/init"
mods="$(echo "$work"/k/lib/modules/*)"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  f="$(find "$mods" -name "$m.ko*" | head -n 1)"
  [ -n "$f" ] || { echo "build.sh: module $m not found in $pkg" >&2; exit 1; }
  case "$f" in # busybox insmod takes plain .ko files only
    *.ko) cp "$f" "$root/lib/modules/$m.ko" ;;
    *.ko.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" >"$root/lib/modules/$m.ko" ;;
    *) echo "build.sh: cannot unpack $f" >&2; exit 1 ;;
  esac
done

mkdir -p "$out"
# busybox's own cpio packs the archive (newc, owned by root), so no cpio package is needed
(cd "$root" && find . | sort | "$root/bin/busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9 >"$out/initrd.img.new"
cp "$work"/k/boot/vmlinuz-* "$out/vmlinuz.new"
mv "$out/vmlinuz.new" "$out/vmlinuz"
mv "$out/initrd.img.new" "$out/initrd.img"
echo "$stamp" >"$out/stamp"
echo "guest image built in $out: $pkg, busybox-static, $(du -h "$out/initrd.img" | cut -f1) initramfs"
