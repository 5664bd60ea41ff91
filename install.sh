#!/bin/sh
# Installs one named release of kopsform for this machine, verified against the release's
# sha256sums.txt (docs/install.md):
#
#   sh install.sh 0.1.0                   # or: KOPSFORM_VERSION=0.1.0 sh install.sh
#
# KOPSFORM_INSTALL_DIR  where `kopsform` goes (default: $HOME/.local/bin)
# KOPSFORM_BASE_URL     where the releases are (default: the project's GitHub releases); the
#                       assets are BASE/vVERSION/kopsform-VERSION-TARGET.tar.gz and
#                       BASE/vVERSION/sha256sums.txt
#
# Nothing is installed unless the archive's SHA-256 is the one sha256sums.txt lists for it. The
# binary is unpacked in a temporary folder, copied next to its destination and renamed into place,
# so an interrupted or refused install leaves no partial `kopsform` behind.
set -eu

default_base=https://github.com/kopsform/kopsform/releases/download
base=${KOPSFORM_BASE_URL:-$default_base}
version=${1:-${KOPSFORM_VERSION:-}}

die() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 1
}

[ "$#" -le 1 ] || die "one argument at most, the version (sh install.sh 0.1.0)"

# The version: 0.1.0 or v0.1.0, letters, digits, dots and dashes only (it becomes part of a URL
# and of file names).
version=${version#v}
case $version in
  '') die "no version given: run sh install.sh VERSION (or set KOPSFORM_VERSION), for example sh install.sh 0.1.0" ;;
  *[!0-9A-Za-z.-]* | [!0-9]*) die "not a kopsform version: '$version' (expected something like 0.1.0)" ;;
esac

# Plain http is only for a server on this machine (a mirror under test): over the network, the
# archive and its checksum would come through the same unprotected channel.
base=${base%/}
case $base in
  https://*) ;;
  http://127.0.0.1:* | http://127.0.0.1/* | http://localhost:* | http://localhost/* | "http://[::1]:"* | "http://[::1]/"*) ;;
  *) die "KOPSFORM_BASE_URL must be an https:// URL (or http:// on 127.0.0.1 or localhost), not '$base'" ;;
esac

if [ -n "${KOPSFORM_INSTALL_DIR:-}" ]; then
  dir=$KOPSFORM_INSTALL_DIR
elif [ -n "${HOME:-}" ]; then
  dir=$HOME/.local/bin
else
  die "HOME is not set: set KOPSFORM_INSTALL_DIR to the folder kopsform should go to"
fi

os=$(uname -s)
arch=$(uname -m)
case "$os/$arch" in
  Linux/x86_64 | Linux/amd64) target=x86_64-unknown-linux-musl ;;
  Linux/aarch64 | Linux/arm64) target=aarch64-unknown-linux-musl ;;
  Darwin/x86_64) target=x86_64-apple-darwin ;;
  Darwin/arm64 | Darwin/aarch64) target=aarch64-apple-darwin ;;
  *) die "kopsform has no release for this platform ($os $arch): releases exist for Linux x86_64 and aarch64 and macOS x86_64 and arm64; elsewhere build it with cargo install kopsform --version $version" ;;
esac

archive=kopsform-$version-$target.tar.gz
url=$base/v$version

if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
else
  die "neither sha256sum nor shasum is installed: install.sh cannot verify the download"
fi

# download URL FILE: fails with the URL and the reason; a 404 means the release or the asset
# does not exist.
if command -v curl >/dev/null 2>&1; then
  download() {
    status=$(curl --silent --show-error --location --proto '=https,http' --proto-redir '=https' \
      --output "$2" --write-out '%{http_code}' "$1" 2>"$tmp/curl.err") || status=failed
    case $status in
      200) ;;
      404) die "kopsform $version has no $(basename "$1") at $1 (HTTP 404): is $version a released version? See https://github.com/kopsform/kopsform/releases" ;;
      failed) die "cannot download $1: $(cat "$tmp/curl.err")" ;;
      *) die "cannot download $1: the server answered HTTP $status" ;;
    esac
  }
elif command -v wget >/dev/null 2>&1; then
  download() {
    wget --quiet --output-document "$2" "$1" ||
      die "cannot download $1 (wget failed; is $version a released version? See https://github.com/kopsform/kopsform/releases)"
  }
else
  die "neither curl nor wget is installed: install.sh needs one of them to download kopsform"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kopsform-install.XXXXXX")
staged=
cleanup() {
  rm -rf "$tmp"
  if [ -n "$staged" ]; then rm -f "$staged"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

printf 'downloading kopsform %s for %s from %s\n' "$version" "$target" "$url"
download "$url/sha256sums.txt" "$tmp/sha256sums.txt"
# sha256sum's format: the digest, two spaces (or a space and `*`), the file name; a file saved
# with CRLF line ends reads the same.
expected=$(awk -v name="$archive" '{ sub(/\r$/, "") } $2 == name || $2 == "*" name { print tolower($1); exit }' "$tmp/sha256sums.txt")
case $expected in
  '') die "sha256sums.txt of kopsform $version lists no $archive: refusing to install an archive it cannot verify" ;;
  *[!0-9a-f]*) die "sha256sums.txt of kopsform $version has no valid SHA-256 for $archive: '$expected'" ;;
esac
[ "${#expected}" -eq 64 ] || die "sha256sums.txt of kopsform $version has no valid SHA-256 for $archive: '$expected'"

download "$url/$archive" "$tmp/$archive"
actual=$(sha256 "$tmp/$archive")
if [ "$actual" != "$expected" ]; then
  die "checksum mismatch for $archive: sha256sums.txt says $expected, the download is $actual; nothing was installed"
fi

mkdir "$tmp/unpacked"
tar -xzf "$tmp/$archive" -C "$tmp/unpacked" kopsform 2>"$tmp/tar.err" ||
  die "$archive holds no kopsform binary at its root: $(cat "$tmp/tar.err")"
if [ -L "$tmp/unpacked/kopsform" ] || [ ! -f "$tmp/unpacked/kopsform" ]; then
  die "the kopsform in $archive is not a regular file; nothing was installed"
fi

mkdir -p "$dir" || die "cannot create the install folder $dir"
if [ -d "$dir/kopsform" ]; then
  die "$dir/kopsform is a folder: remove it or choose another KOPSFORM_INSTALL_DIR"
fi
# Copied next to its destination first, then renamed: the rename replaces the old binary in one
# step, and a failure before it leaves only the staged copy, which the cleanup removes.
staged=$dir/.kopsform.install.$$
cp "$tmp/unpacked/kopsform" "$staged" || die "cannot write to $dir"
chmod 755 "$staged"
mv -f "$staged" "$dir/kopsform" || die "cannot move kopsform into $dir"
staged=

printf 'installed kopsform %s at %s/kopsform\n' "$version" "$dir"
case ":${PATH:-}:" in
  *":$dir:"*) ;;
  *) printf 'note: %s is not on PATH; add it, or run %s/kopsform\n' "$dir" "$dir" ;;
esac
